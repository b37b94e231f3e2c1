package main

import (
	"bufio"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loomhq/loom"
)

// startWorker starts `loom worker` and waits until it says it started.
func startWorker(t *testing.T, bin string, args ...string) (stop func() error) {
	t.Helper()
	stop, _ = startWorkerLogged(t, bin, args...)
	return stop
}

// startWorkerLogged is startWorker that also returns the worker's log.
func startWorkerLogged(t *testing.T, bin string, args ...string) (stop func() error, logs *syncBuffer) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"worker"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	logs = &syncBuffer{}
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			logs.Write([]byte(sc.Text() + "\n"))
			if !once && strings.Contains(sc.Text(), "loom worker started") {
				once = true
				close(started)
			}
		}
		done <- cmd.Wait()
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("worker exited before starting (%v):\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("worker did not start within 30s:\n%s", logs.String())
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		err := <-done
		if err != nil {
			t.Logf("worker log:\n%s", logs.String())
		}
		return err
	}
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return stop, logs
}

// TestWorkerProcess runs tasks and a flow's steps in a `loom worker`
// process that shares a bus directory with the server: the server leaves
// the external queue to it, a task waits while no worker is there, and a
// worker that stops gracefully exits 0.
func TestWorkerProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildLoom(t)
	dir := t.TempDir()
	testWorkerProcess(t, bin, dir, filepath.Join(dir, "bus"))
}

// testWorkerProcess is TestWorkerProcess on the bus busDir names (a
// directory or a URL, as --bus takes it).
func testWorkerProcess(t *testing.T, bin, dir, busDir string) {
	flows, err := filepath.Abs("../../examples/flows")
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, bin, "--db", filepath.Join(dir, "loom.db"), "--flows", flows,
		"--bus", busDir, "--external-queue", "remote", "--allow-exec")

	submit := func(typ string, input loom.Values) string {
		var task loom.TaskInfo
		api(t, "POST", srv.url+"/api/v1/tasks", map[string]any{"type": typ, "queue": "remote", "input": input}, &task)
		return task.ID
	}
	get := func(id string) loom.TaskInfo {
		var task loom.TaskInfo
		api(t, "GET", srv.url+"/api/v1/tasks/"+id, nil, &task)
		return task
	}

	early := submit("exec", loom.Values{"command": []string{"sh", "-c", "echo remote $$"}})
	stop := startWorker(t, bin, "--bus", busDir, "--queue", "remote", "--flows", flows, "--allow-exec")
	waitEnded(t, srv.url, early)
	if got := get(early); got.Status != loom.StatusCompleted || !strings.HasPrefix(got.Output["stdout"].(string), "remote ") {
		t.Fatalf("exec on the worker: %s %q %v", got.Status, got.Msg, got.Output)
	}
	flow := submit("hello", loom.Values{"who": "worker"})
	waitEnded(t, srv.url, flow)
	if got := get(flow); got.Status != loom.StatusCompleted {
		t.Fatalf("flow on the worker: %s %q", got.Status, got.Msg)
	}
	var steps struct{ Tasks []loom.TaskInfo }
	api(t, "GET", srv.url+"/api/v1/tasks/"+flow+"/children", nil, &steps)
	if len(steps.Tasks) == 0 {
		t.Fatal("the flow has no steps")
	}
	for _, s := range steps.Tasks {
		if s.Queue != "remote" || s.Status != loom.StatusCompleted {
			t.Errorf("step %s: %s on queue %s", s.Step, s.Status, s.Queue)
		}
	}
	// A fan-out's items are tasks of their own on the worker, each with
	// its item in its input for the step's templates.
	etl := submit("etl", loom.Values{"records": []string{"alpha", "beta", "gamma"}})
	waitEnded(t, srv.url, etl)
	if got := get(etl); got.Status != loom.StatusCompleted || !strings.Contains(fmt.Sprint(got.Output["report"]), "ALPHA") {
		t.Fatalf("fan-out on the worker: %s %q %v", got.Status, got.Msg, got.Output)
	}
	if err := stop(); err != nil {
		t.Fatalf("worker stop: %v", err)
	}

	// No worker: the server does not run the queue's tasks itself.
	late := submit("exec", loom.Values{"command": []string{"true"}})
	time.Sleep(500 * time.Millisecond)
	if got := get(late); got.Status != loom.StatusPending && got.Status != loom.StatusRunning {
		t.Fatalf("with no worker the task is %s", got.Status)
	}
	startWorker(t, bin, "--bus", busDir, "--queue", "remote", "--allow-exec")
	waitEnded(t, srv.url, late)
	if got := get(late); got.Status != loom.StatusCompleted {
		t.Fatalf("after the worker came back: %s %q", got.Status, got.Msg)
	}
}
