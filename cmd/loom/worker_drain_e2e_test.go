package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loomhq/loom"
)

// TestWorkerAnnouncesAndDrains starts a server that was told of no
// external queue and a `loom worker` with an id: the worker is listed (API
// and `loom workers`), its queue is served without --external-queue, and
// SIGTERM drains it: the task that ends within --grace completes, the one
// that does not is stopped and handed back, and runs on the next worker.
func TestWorkerAnnouncesAndDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildLoom(t)
	dir := t.TempDir()
	busDir := filepath.Join(dir, "bus")
	srv := startServer(t, bin, "--db", filepath.Join(dir, "loom.db"), "--bus", busDir, "--allow-exec")
	stop, logs := startWorkerLogged(t, bin, "--bus", busDir, "--queue", "remote", "--allow-exec",
		"--id", "drain-me", "--concurrency", "2", "--grace", "10s")

	type worker struct {
		ID          string   `json:"id"`
		Queues      []string `json:"queues"`
		Concurrency int      `json:"concurrency"`
		InFlight    int      `json:"in_flight"`
		Alive       bool     `json:"alive"`
	}
	listed := func() *worker {
		var out struct{ Workers []worker }
		api(t, "GET", srv.url+"/api/v1/workers", nil, &out)
		for _, w := range out.Workers {
			if w.ID == "drain-me" {
				return &w
			}
		}
		return nil
	}
	waitUntil := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s; worker log:\n%s", what, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitUntil("the worker is listed", func() bool { return listed() != nil })
	if w := listed(); len(w.Queues) != 1 || w.Queues[0] != "remote" || w.Concurrency != 2 || !w.Alive {
		t.Fatalf("listed %+v", *w)
	}
	var cli bytes.Buffer
	cmd := exec.Command(bin, "workers", "--server", srv.url)
	cmd.Stdout = &cli
	if err := cmd.Run(); err != nil {
		t.Fatalf("loom workers: %v", err)
	}
	if !strings.Contains(cli.String(), "drain-me") || !strings.Contains(cli.String(), "remote") {
		t.Fatalf("loom workers printed:\n%s", cli.String())
	}

	submit := func(script string) string {
		var task loom.TaskInfo
		api(t, "POST", srv.url+"/api/v1/tasks", map[string]any{"type": "exec", "queue": "remote",
			"input": loom.Values{"command": []string{"sh", "-c", script}}}, &task)
		return task.ID
	}
	started := func(name string) string { return filepath.Join(dir, name+".started") }
	mark := filepath.Join(dir, "second-worker")
	short := submit("touch " + started("short") + "; sleep 1; echo short")
	long := submit("if [ -e " + mark + " ]; then echo again; exit 0; fi; touch " + started("long") + "; sleep 600")
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	waitUntil("both tasks run on the worker", func() bool { return exists(started("short")) && exists(started("long")) })

	if err := stop(); err != nil {
		t.Fatalf("worker exit after SIGTERM: %v\n%s", err, logs.String())
	}
	for _, want := range []string{"worker draining", "grace period over", "worker handing a task back", "handed_back=1"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the worker's log does not say %q:\n%s", want, logs.String())
		}
	}
	waitEnded(t, srv.url, short)
	var got loom.TaskInfo
	api(t, "GET", srv.url+"/api/v1/tasks/"+short, nil, &got)
	if got.Status != loom.StatusCompleted {
		t.Fatalf("the task that ended within the grace: %s %q", got.Status, got.Msg)
	}
	waitUntil("the stopped worker is forgotten", func() bool { return listed() == nil })

	if err := os.WriteFile(mark, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	startWorker(t, bin, "--bus", busDir, "--queue", "remote", "--allow-exec", "--id", "next")
	waitEnded(t, srv.url, long)
	api(t, "GET", srv.url+"/api/v1/tasks/"+long, nil, &got)
	if got.Status != loom.StatusCompleted || !strings.HasPrefix(got.Output["stdout"].(string), "again") {
		t.Fatalf("the handed-back task on the next worker: %s %q %v", got.Status, got.Msg, got.Output)
	}
}

// TestCancelKillsRemoteExec cancels an exec task running on a `loom
// worker` process: the worker kills the attempt's whole process group,
// the shell's background child included.
func TestCancelKillsRemoteExec(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildLoom(t)
	dir := t.TempDir()
	busDir := filepath.Join(dir, "bus")
	srv := startServer(t, bin, "--db", filepath.Join(dir, "loom.db"), "--bus", busDir, "--allow-exec", "--external-queue", "remote")
	_, logs := startWorkerLogged(t, bin, "--bus", busDir, "--queue", "remote", "--allow-exec", "--id", "exec-box")
	pidFile := filepath.Join(dir, "child.pid")
	var task loom.TaskInfo
	api(t, "POST", srv.url+"/api/v1/tasks", map[string]any{"type": "exec", "queue": "remote",
		"input": loom.Values{"command": []string{"sh", "-c", "sleep 600 & echo $! > " + pidFile + ".tmp; mv " + pidFile + ".tmp " + pidFile + "; wait"}}}, &task)
	deadline := time.Now().Add(time.Minute)
	var pid int
	for {
		if b, err := os.ReadFile(pidFile); err == nil {
			if _, err := fmt.Sscan(string(b), &pid); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task did not start; worker log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	alive := func() bool { return syscall.Kill(pid, 0) == nil }
	if !alive() {
		t.Fatal("the task's child is not running")
	}
	at := time.Now()
	api(t, "POST", srv.url+"/api/v1/tasks/"+task.ID+"/cancel", map[string]any{"reason": "enough"}, nil)
	for alive() {
		if time.Since(at) > time.Minute {
			t.Fatalf("the task's child still runs a minute after the cancel; worker log:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the task's child was gone %s after the cancel", time.Since(at))
	if !strings.Contains(logs.String(), "worker stopping an attempt the server gave up") {
		t.Errorf("the worker's log does not say it stopped the attempt:\n%s", logs.String())
	}
}
