package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/flowfile"
)

// flowDir writes flow files, by file name, into a new directory.
func flowDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "flows")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// allowFlows are two flow files whose allow_exec lists together allow
// echo and printf with any arguments.
var allowFlows = map[string]string{
	"tools.yaml": "name: tools\nallow_exec: [\"echo ...\"]\nsteps:\n  - name: s\n    exec: [\"true\"]\n",
	"more.yaml":  "name: more\nallow_exec:\n  - printf ...\nsteps:\n  - name: s\n    exec: [\"true\"]\n",
}

// submitExec submits an exec task of command and returns the status and
// the body of the answer.
func submitExec(t *testing.T, url string, command ...string) (int, string) {
	t.Helper()
	return apiRaw(t, "POST", url+"/api/v1/tasks", map[string]any{"type": "exec", "input": map[string]any{"command": command}})
}

// wantExecRuns submits an exec task of command and checks it is admitted
// and completes printing stdout.
func wantExecRuns(t *testing.T, url, stdout string, command ...string) {
	t.Helper()
	var task loom.TaskInfo
	if code := apiCode(t, "POST", url+"/api/v1/tasks", map[string]any{"type": "exec", "input": map[string]any{"command": command}}, &task); code != http.StatusCreated {
		t.Fatalf("exec %q: %d, want 201", command, code)
	}
	if got := endedTask(t, url, task.ID); got.Status != loom.StatusCompleted || got.Output["stdout"] != stdout {
		t.Fatalf("exec %q: %s %s %v", command, got.Status, got.Msg, got.Output)
	}
}

// TestFlowFileAllowExec: the allow_exec patterns of every flow file of
// --flows, with those of --allow-exec-command, admit the exec tasks whose
// command matches one and only those; a refusal names where the patterns
// come from. --allow-exec admits any command whatever the files say.
func TestFlowFileAllowExec(t *testing.T) {
	t.Parallel()
	flows := flowDir(t, allowFlows)

	url, _ := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"), "--flows", flows)
	wantExecRuns(t, url, "hi\n", "echo", "hi")
	wantExecRuns(t, url, "x", "printf", "x")
	code, body := submitExec(t, url, "id")
	wantRefused(t, "exec id", code, body, "allow_exec in more.yaml, tools.yaml")
	if strings.Contains(body, "--allow-exec-command") {
		t.Errorf("exec id: %s names a flag the server was not given", body)
	}
	code, body = apiRaw(t, "POST", url+"/api/v1/tasks", map[string]any{"type": "exec", "input": map[string]any{"command": []string{"echo"}, "dir": "/"}})
	wantRefused(t, "exec with dir", code, body, "allow_exec in")

	withFlag, _ := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"), "--flows", flows, "--allow-exec-command", "false")
	wantExecRuns(t, withFlag, "hi\n", "echo", "hi")
	var task loom.TaskInfo
	if code := apiCode(t, "POST", withFlag+"/api/v1/tasks", map[string]any{"type": "exec", "input": map[string]any{"command": []string{"false"}}}, &task); code != http.StatusCreated {
		t.Fatalf("exec false with --allow-exec-command false: %d", code)
	}
	code, body = submitExec(t, withFlag, "id")
	wantRefused(t, "exec id", code, body, "--allow-exec-command or allow_exec in more.yaml, tools.yaml")

	open, _ := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"), "--flows", flows, "--allow-exec")
	wantExecRuns(t, open, "hi\n", "sh", "-c", "echo hi")
}

// TestFlowFileAllowExecErrors: a bad allow_exec pattern stops the server
// and the worker before they start, naming the file and the line.
func TestFlowFileAllowExecErrors(t *testing.T) {
	t.Parallel()
	flows := flowDir(t, map[string]string{
		"bad.yaml": "name: bad\nallow_exec:\n  - echo ...\n  - \"...\"\nsteps:\n  - name: s\n    exec: [\"true\"]\n",
	})
	want := filepath.Join(flows, "bad.yaml") + `:4: allow_exec: "...": a pattern needs the program's name`
	db := filepath.Join(t.TempDir(), "loom.db")
	for _, args := range [][]string{
		{"server", "--addr", "127.0.0.1:0", "--db", db, "--flows", flows},
		{"worker", "--bus", t.TempDir(), "--flows", flows},
	} {
		_, stderr, code := runMainEnv(t, nil, args...)
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("loom %s: exit %d\n%s\nwant exit 1 naming %s", strings.Join(args, " "), code, stderr, want)
		}
	}
}

// inProcessWorker runs `loom worker` with args through Main until the
// test ends.
func inProcessWorker(t *testing.T, args ...string) {
	t.Helper()
	var logs syncBuffer
	w := NewMain()
	w.Stdout, w.Stderr = &logs, &logs
	w.Getenv = func(string) string { return "" }
	ctx, cancel := context.WithCancel(context.Background())
	if err := w.ParseFlags(ctx, append([]string{"worker"}, args...)); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	for !strings.Contains(logs.String(), "loom worker started") {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("worker stopped: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker Run: %v\n%s", err, logs.String())
		}
		if err := w.Close(); err != nil {
			t.Errorf("worker Close: %v", err)
		}
	})
}

// TestWorkerFlowFileAllowExec: `loom worker --flows` runs the exec tasks
// its flow files' allow_exec allows and fails the others, whatever the
// server admitted.
func TestWorkerFlowFileAllowExec(t *testing.T) {
	t.Parallel()
	busDir := filepath.Join(t.TempDir(), "bus")
	url, _ := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"), "--bus", busDir, "--external-queue", "remote", "--allow-exec")
	inProcessWorker(t, "--bus", busDir, "--queue", "remote", "--flows", flowDir(t, allowFlows))
	run := func(command ...string) loom.TaskInfo {
		var task loom.TaskInfo
		api(t, "POST", url+"/api/v1/tasks", map[string]any{"type": "exec", "queue": "remote", "input": map[string]any{"command": command}}, &task)
		return endedTask(t, url, task.ID)
	}
	if got := run("echo", "remote"); got.Status != loom.StatusCompleted || got.Output["stdout"] != "remote\n" {
		t.Errorf("allowed exec on the worker: %s %s %v", got.Status, got.Msg, got.Output)
	}
	if got := run("id"); got.Status != loom.StatusFailed || !strings.Contains(got.Msg, "allow_exec in more.yaml, tools.yaml") {
		t.Errorf("refused exec on the worker: %s %q, want failed naming the flow files", got.Status, got.Msg)
	}
}

// TestFlowAllowlistLog: flow files that let exec tasks run say so in the
// log, and under --allow-exec the log says their patterns restrict
// nothing.
func TestFlowAllowlistLog(t *testing.T) {
	t.Parallel()
	files := []*flowfile.File{
		{Filename: "/srv/flows/tools.yaml", AllowExec: []string{"echo ..."}},
		{Filename: "/srv/flows/plain.yaml"},
	}
	for _, tc := range []struct {
		allowExec bool
		want      string
	}{
		{false, `level=INFO msg="flow files let submitted exec tasks run the commands their allow_exec patterns match" files=[tools.yaml] patterns="[echo ...]"`},
		{true, `level=WARN msg="--allow-exec lets exec tasks run any command: the allow_exec patterns of flow files restrict nothing" files=[tools.yaml]`},
	} {
		var logs bytes.Buffer
		o := runtimeOptions{allowExec: tc.allowExec}
		o.addFlowAllowlist(files, slog.New(slog.NewTextHandler(&logs, nil)))
		if !strings.Contains(logs.String(), tc.want) {
			t.Errorf("--allow-exec %v: log\n%s\nwant %s", tc.allowExec, logs.String(), tc.want)
		}
		if a, err := o.allowlist(); err != nil || (a == nil) != tc.allowExec {
			t.Errorf("--allow-exec %v: allowlist %v, %v", tc.allowExec, a, err)
		}
	}
}

// TestRunIgnoresAllowExec: `loom run` runs a file that lists allow_exec,
// which concerns only submitted tasks, as any other.
func TestRunIgnoresAllowExec(t *testing.T) {
	t.Parallel()
	flows := flowDir(t, allowFlows)
	if _, code := runMain(t, "run", filepath.Join(flows, "tools.yaml")); code != 0 {
		t.Errorf("loom run tools.yaml: exit %d, want 0", code)
	}
}
