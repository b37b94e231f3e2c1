package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loomhq/loom"
)

// buildLoom builds the loom binary into a temporary directory.
func buildLoom(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "loom")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a loom server running as a child process.
type proc struct {
	cmd  *exec.Cmd
	url  string
	logs *syncBuffer
	done chan struct{}
}

// startServer starts `loom server` on a free port and waits until it
// listens.
func startServer(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"server", "--addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("start server: %v", err)
	}
	p := &proc{cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	urls := make(chan string, 1)
	go func() {
		// Drain stderr for the whole life of the process, so that the
		// access log never blocks it on a full pipe.
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(p.logs, line)
			if m := urlInLog.FindStringSubmatch(line); m != nil {
				urls <- m[1]
			}
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("server log (tail):\n%s", tail(p.logs.String(), 60))
		}
	})
	select {
	case p.url = <-urls:
		return p
	case <-p.done:
		t.Fatalf("server exited before listening:\n%s", p.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not listen within 30s:\n%s", p.logs.String())
	}
	return nil
}

func tail(s string, lines int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// api sends one request to the server and decodes the JSON answer into out.
func api(t *testing.T, method, url string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, data, err)
		}
	}
	return resp.StatusCode
}

// waitIdle waits until the server has no pending or running task.
func waitIdle(t *testing.T, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var page struct{ Tasks []loom.TaskInfo }
		api(t, "GET", url+"/api/v1/tasks?status=pending,running&limit=5", nil, &page)
		if len(page.Tasks) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks still live after %s, e.g. %+v", within, page.Tasks[0])
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// countLines counts each line of the file.
func countLines(t *testing.T, path string) map[string]int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l != "" {
			n[l]++
		}
	}
	return n
}

// TestEndToEnd runs the built binary: a server, the CLI and plain HTTP
// against it; then kills the server with SIGKILL in the middle of 1,000
// tasks and a flow, restarts it on the same database, and checks that every
// task ran to completion exactly once (a second run only for a task whose
// attempt was taken over) and that the flow resumed after its last
// completed step.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildLoom(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "loom.db")
	flows := filepath.Join(dir, "flows")
	flowOut := filepath.Join(dir, "flow.txt")
	if err := os.Mkdir(flows, 0o755); err != nil {
		t.Fatal(err)
	}
	var flow strings.Builder
	fmt.Fprintf(&flow, "name: five-steps\nsteps:\n")
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(&flow, "  - name: s%d\n    exec: [\"sh\", \"-c\", \"echo s%d >> %s; sleep 2\"]\n", i, i, flowOut)
		if i > 1 {
			fmt.Fprintf(&flow, "    depends_on: [s%d]\n", i-1)
		}
	}
	if err := os.WriteFile(filepath.Join(flows, "five.yaml"), []byte(flow.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	serverArgs := []string{"--db", db, "--flows", flows, "--workers", "8", "--lease", "2s", "--allow-exec"}
	srv := startServer(t, bin, serverArgs...)

	// The CLI: submit and wait, logs.
	cli := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"--server", srv.url}, args...)...).CombinedOutput()
		return string(out), err
	}
	out, err := cli("submit", "exec", "--input", `{"command":["echo","from the cli"]}`, "--wait")
	if err != nil || !strings.Contains(out, "completed") {
		t.Fatalf("submit --wait: %v\n%s", err, out)
	}
	if out, err := cli("tasks", "logs", strings.Fields(out)[0]); err != nil || out != "from the cli\n" {
		t.Errorf("tasks logs: %v %q", err, out)
	}
	if out, err := cli("submit", "exec", "--input", `{"command":["false"]}`, "--wait"); err == nil {
		t.Errorf("submit --wait of a failing task exited 0:\n%s", out)
	}

	// Plain HTTP.
	var task loom.TaskInfo
	if code := api(t, "POST", srv.url+"/api/v1/tasks", map[string]any{"type": "exec", "input": map[string]any{"command": []string{"true"}}}, &task); code != 201 {
		t.Fatalf("submit: %d", code)
	}
	for task.Status != loom.StatusCompleted {
		if task.Status.Terminal() {
			t.Fatalf("task ended %s: %s", task.Status, task.Msg)
		}
		time.Sleep(50 * time.Millisecond)
		api(t, "GET", srv.url+"/api/v1/tasks/"+task.ID, nil, &task)
	}

	// The crash: a flow, then 1,000 tasks, and SIGKILL mid-run.
	out1 := filepath.Join(dir, "out.txt")
	var flowTask loom.TaskInfo
	api(t, "POST", srv.url+"/api/v1/tasks", map[string]any{"type": "five-steps"}, &flowTask)
	for deadline := time.Now().Add(20 * time.Second); len(countLines(t, flowOut)) < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("flow made no progress: %v", countLines(t, flowOut))
		}
		time.Sleep(50 * time.Millisecond)
	}
	const n = 1000
	ids := make([]string, n)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				key := fmt.Sprintf("crash-%04d", i)
				var got loom.TaskInfo
				api(t, "POST", srv.url+"/api/v1/tasks", map[string]any{
					"type": "exec", "max_attempts": 3, "idempotency_key": key,
					"input": map[string]any{
						"command": []string{"sh", "-c", "sleep 0.05; echo $ID >> " + out1},
						"env":     map[string]string{"ID": key},
					},
				}, &got)
				ids[i] = got.ID
			}
		})
	}
	wg.Wait()
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	before := countLines(t, out1)
	flowBefore := countLines(t, flowOut)
	if len(before) == n || len(flowBefore) == 5 {
		t.Fatalf("killed after %d of %d tasks and %d of 5 flow steps: the test proves nothing", len(before), n, len(flowBefore))
	}
	t.Logf("killed with %d of %d tasks and %d of 5 flow steps done", len(before), n, len(flowBefore))

	srv = startServer(t, bin, serverArgs...)
	waitIdle(t, srv.url, 90*time.Second)

	lines := countLines(t, out1)
	for i, id := range ids {
		key := fmt.Sprintf("crash-%04d", i)
		var got loom.TaskInfo
		api(t, "GET", srv.url+"/api/v1/tasks/"+id, nil, &got)
		if got.Status != loom.StatusCompleted {
			t.Errorf("task %s (%s): %s %s", key, id, got.Status, got.Msg)
		}
		switch c := lines[key]; {
		case c == 0:
			t.Errorf("task %s never ran", key)
		case c > 1 && got.Attempt < 2 && got.LeaseExpiries == 0:
			// A run the kill cut within a moment of its start, before the
			// store learnt of it, may run again under its number; its
			// lapsed lease shows it.
			t.Errorf("task %s ran %d times in attempt %d with no lapsed lease", key, c, got.Attempt)
		}
	}

	api(t, "GET", srv.url+"/api/v1/tasks/"+flowTask.ID, nil, &flowTask)
	if flowTask.Status != loom.StatusCompleted {
		t.Fatalf("flow %s: %s %s", flowTask.ID, flowTask.Status, flowTask.Msg)
	}
	var steps struct{ Tasks []loom.TaskInfo }
	api(t, "GET", srv.url+"/api/v1/tasks/"+flowTask.ID+"/children", nil, &steps)
	if len(steps.Tasks) != 5 {
		t.Fatalf("flow has %d steps, want 5", len(steps.Tasks))
	}
	flowLines := countLines(t, flowOut)
	for _, s := range steps.Tasks {
		if s.Status != loom.StatusCompleted {
			t.Errorf("step %s: %s", s.Step, s.Status)
		}
		switch c := flowLines[s.Step]; {
		case c == 0:
			t.Errorf("step %s never ran", s.Step)
		case c > 1 && s.Attempt < 2 && s.LeaseExpiries == 0:
			t.Errorf("step %s ran %d times in attempt %d with no lapsed lease: a completed step ran again", s.Step, c, s.Attempt)
		}
	}
	for step := range flowBefore {
		if flowLines[step] != flowBefore[step] {
			// A step that had written its line before the kill either had
			// completed (it must not run again) or was running (its
			// attempt was taken over).
			for _, s := range steps.Tasks {
				if s.Step == step && s.Attempt < 2 {
					t.Errorf("step %s ran again after the restart", step)
				}
			}
		}
	}
}
