package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// pythonWorker is examples/workers/python/worker.py running against a
// server.
type pythonWorker struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

// startPythonWorker starts the example Python worker with args against
// url, stopped (SIGTERM, then waited for) when the test ends.
func startPythonWorker(t *testing.T, url string, args ...string) *pythonWorker {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed for the Python worker example (.ci/run installs it): %v", err)
	}
	script, err := filepath.Abs("../../examples/workers/python/worker.py")
	if err != nil {
		t.Fatal(err)
	}
	w := &pythonWorker{logs: &syncBuffer{}, done: make(chan error, 1)}
	w.cmd = exec.Command(python, append([]string{script, "--url", url, "--wait-ms", "1000"}, args...)...)
	w.cmd.Stdout, w.cmd.Stderr = w.logs, w.logs
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("start the Python worker: %v", err)
	}
	go func() { w.done <- w.cmd.Wait() }()
	t.Cleanup(func() {
		_ = w.cmd.Process.Signal(syscall.SIGCONT)
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-w.done:
			if err != nil {
				t.Errorf("Python worker: %v\n%s", err, w.logs.String())
			}
		case <-time.After(30 * time.Second):
			_ = w.cmd.Process.Kill()
			t.Errorf("the Python worker did not stop on SIGTERM:\n%s", w.logs.String())
		}
	})
	return w
}

// waitLog waits until the worker's output contains s.
func (w *pythonWorker) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(w.logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("the Python worker never said %q:\n%s", s, w.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPythonWorker runs tasks on the example Python worker over the HTTP
// worker protocol: results, logs, the worker's own times and messages,
// a permanent failure.
func TestPythonWorker(t *testing.T) {
	t.Parallel()
	url, _ := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"), "--http-queue", "py")
	startPythonWorker(t, url, "--queue", "py", "--concurrency", "4", "--worker-id", "py-1")
	var ids []string
	for i := range 12 {
		var task loom.TaskInfo
		api(t, "POST", url+"/api/v1/tasks", map[string]any{"type": "py.add", "queue": "py",
			"input": map[string]any{"numbers": []int{i, i, 1}}}, &task)
		ids = append(ids, task.ID)
	}
	var bad loom.TaskInfo
	api(t, "POST", url+"/api/v1/tasks", map[string]any{"type": "py.fail", "queue": "py", "max_attempts": 3,
		"input": map[string]any{"reason": "no such file"}}, &bad)
	for i, id := range ids {
		got := endedTask(t, url, id)
		if got.Status != loom.StatusCompleted || got.Output["sum"] != float64(2*i+1) || got.Msg != "done by py-1" || got.WorkerID != "py-1" {
			t.Fatalf("task %d: %s %q %v by %s", i, got.Status, got.Msg, got.Output, got.WorkerID)
		}
		if got.Started == nil || got.Ended == nil || got.Ended.Before(*got.Started) {
			t.Errorf("task %d: started %v, ended %v", i, got.Started, got.Ended)
		}
	}
	var logs struct{ Logs []store.LogChunk }
	api(t, "GET", url+"/api/v1/tasks/"+ids[3]+"/logs", nil, &logs)
	if len(logs.Logs) != 1 || logs.Logs[0].Data != "adding 3 numbers\n" || logs.Logs[0].Attempt != 1 {
		t.Errorf("logs: %+v", logs.Logs)
	}
	if got := endedTask(t, url, bad.ID); got.Status != loom.StatusFailed || got.Attempt != 1 || !strings.Contains(got.Msg, "no such file") {
		t.Errorf("permanent failure: %s after %d attempts: %q", got.Status, got.Attempt, got.Msg)
	}
}

// TestPythonWorkerPausedPastLease pauses the Python worker running a task
// (SIGSTOP) until its lease lapses: the task is re-run on another worker
// as attempt 2, and the paused worker's result, once it is resumed, is
// refused with 409 and changes nothing.
func TestPythonWorkerPausedPastLease(t *testing.T) {
	t.Parallel()
	url, _ := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"), "--http-queue", "py", "--lease", "2s")
	slow := startPythonWorker(t, url, "--queue", "py", "--concurrency", "1", "--worker-id", "py-slow")
	var task loom.TaskInfo
	api(t, "POST", url+"/api/v1/tasks", map[string]any{"type": "py.sleep", "queue": "py", "input": map[string]any{"seconds": 4}}, &task)
	// Pause it once it runs the task.
	for deadline := time.Now().Add(30 * time.Second); ; {
		var got loom.TaskInfo
		api(t, "GET", url+"/api/v1/tasks/"+task.ID, nil, &got)
		if got.Status == loom.StatusRunning && got.WorkerID == "py-slow" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task never ran on the worker: %s\n%s", got.Status, slow.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := slow.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	fast := startPythonWorker(t, url, "--queue", "py", "--concurrency", "1", "--worker-id", "py-fast")
	got := endedTask(t, url, task.ID)
	if got.Status != loom.StatusCompleted || got.Attempt != 2 || got.WorkerID != "py-fast" || got.LeaseExpiries != 1 ||
		got.Output["pid"] != float64(fast.cmd.Process.Pid) {
		t.Fatalf("the re-run: %s attempt %d by %s, %d lease expiries, output %v", got.Status, got.Attempt, got.WorkerID, got.LeaseExpiries, got.Output)
	}
	if err := slow.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	slow.waitLog(t, fmt.Sprintf("task %s attempt 1: result refused (409)", task.ID))
	var after loom.TaskInfo
	api(t, "GET", url+"/api/v1/tasks/"+task.ID, nil, &after)
	if after.Attempt != 2 || after.WorkerID != "py-fast" || after.Msg != "done by py-fast" || after.Output["pid"] != got.Output["pid"] {
		t.Fatalf("the late result changed the task: %+v", after)
	}
	var events struct{ Events []store.Event }
	api(t, "GET", url+"/api/v1/tasks/"+task.ID+"/events", nil, &events)
	var kinds []string
	for _, ev := range events.Events {
		kinds = append(kinds, ev.Type)
	}
	if !slices.Contains(kinds, "requeued") || kinds[len(kinds)-1] != "completed" {
		t.Errorf("events %v, want a requeue for the lapsed lease, then completed", kinds)
	}
}
