package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe to write from the server's goroutines
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var urlInLog = regexp.MustCompile(`msg="loom server listening" url=(https?://\S+)`)

// runMain runs one loom command line in-process and returns its stdout and
// exit code.
func runMain(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var stdout, stderr syncBuffer
	m := NewMain()
	m.Stdout, m.Stderr = &stdout, &stderr
	m.Getenv = func(string) string { return "" }
	err := m.ParseFlags(context.Background(), args)
	if err == nil {
		err = m.Run(context.Background())
	}
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	code := exitCode(&stderr, err)
	if code != 0 {
		t.Logf("loom %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	}
	return stdout.String(), code
}

// TestServerInProcess drives Main as main does: a server started with
// ParseFlags and Run, clients as further Mains, and a graceful stop.
func TestServerInProcess(t *testing.T) {
	url, stop := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"), "--allow-exec")

	out, code := runMain(t, "--server", url, "submit", "exec", "--input", `{"command":["echo","hello"]}`, "--wait")
	if code != 0 || !strings.Contains(out, "completed") {
		t.Errorf("submit --wait: exit %d, output:\n%s", code, out)
	}
	id := strings.Fields(out)[0]
	out, code = runMain(t, "--server", url, "tasks", "logs", id)
	if code != 0 || out != "hello\n" {
		t.Errorf("tasks logs: exit %d, output %q", code, out)
	}
	out, code = runMain(t, "--server", url, "tasks", "list", "--status", "completed")
	if code != 0 || !strings.Contains(out, id) || !strings.HasPrefix(out, "ID") {
		t.Errorf("tasks list: exit %d, output:\n%s", code, out)
	}
	out, code = runMain(t, "--server", url, "tasks", "show", id)
	if code != 0 || !strings.Contains(out, "completed") || !strings.Contains(out, `"exit_code":0`) {
		t.Errorf("tasks show: exit %d, output:\n%s", code, out)
	}
	if _, code = runMain(t, "--server", url, "submit", "exec", "--input", `{"command":["false"]}`, "--wait"); code != 1 {
		t.Errorf("a failing task: exit %d, want 1", code)
	}
	if _, code = runMain(t, "--server", url, "tasks", "cancel", id); code != 1 {
		t.Errorf("cancelling an ended task: exit %d, want 1", code)
	}
	if _, code = runMain(t, "--server", url, "submit", "exec", "--input", `[1]`); code != 2 {
		t.Errorf("bad --input: exit %d, want 2", code)
	}

	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("web UI at /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The UI has the taskmaster: its pages are there.
	for _, p := range []string{"/schedules", "/triggers", "/checks", "/alerts"} {
		resp, err := http.Get(url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("web UI at %s: %d, want 200", p, resp.StatusCode)
		}
	}

	stop()
}

// TestRunFlow runs the bundled hello flow file in-process.
func TestRunFlow(t *testing.T) {
	out, code := runMain(t, "run", "../../examples/flows/hello.yaml", `{"who": "tests"}`)
	if code != 0 || !strings.Contains(out, "step greet") || !strings.Contains(out, `"greeting":"hello, tests\n"`) {
		t.Errorf("run hello: exit %d, output:\n%s", code, out)
	}
	if _, code := runMain(t, "run", "../../examples/flows/hello.yaml"); code != 1 {
		t.Errorf("run hello without input: exit %d, want 1", code)
	}
	if _, code := runMain(t, "run", "nope.yaml"); code != 1 {
		t.Errorf("run a missing file: exit %d, want 1", code)
	}
	if _, code := runMain(t, "run", "x.yaml", "{}", "--input", "{}"); code != 2 {
		t.Errorf("input twice: exit %d, want 2", code)
	}
}

// TestUsageErrors checks that a bad command line exits 2.
func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"submit"},
		{"submit", "a", "b", "c"},
		{"tasks", "show"},
		{"tasks", "list", "--bogus"},
		{"server", "--db-sync", "sometimes"},
		{"server", "--external-queue", "gpu"},
		{"server", "--http-queue", "default"},
		{"server", "--http-queue", "py", "--http-queue", "py"},
		{"server", "--bus", "x", "--external-queue", "gpu", "--http-queue", "gpu"},
		{"worker"},
		{"worker", "--bus", "x", "--concurrency", "-1"},
		{"server", "--allow-exec", "--allow-exec-command", "echo ..."},
		{"server", "--allow-exec-command", " ... "},
		{"worker", "--bus", "x", "--allow-exec-command", ""},
		{"worker", "--bus", "kafka://127.0.0.1:9092"},
	} {
		if _, code := runMain(t, args...); code != 2 {
			t.Errorf("loom %v: exit %d, want 2", args, code)
		}
	}
}
