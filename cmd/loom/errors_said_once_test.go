package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// runMainStderr runs one command and returns what it wrote to stderr.
func runMainStderr(t *testing.T, args ...string) (string, int) {
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
	return stderr.String(), code
}

// TestErrorsSaidOnce checks that the CLI's errors say each thing once,
// with the API's code, for the cases a user meets first.
func TestErrorsSaidOnce(t *testing.T) {
	url, stop := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"), "--allow-exec")
	defer stop()
	out, code := runMain(t, "--server", url, "submit", "exec", `{"command":["sleep","30"]}`)
	if code != 0 {
		t.Fatalf("submit: exit %d", code)
	}
	id := strings.TrimSpace(out)
	if _, code := runMain(t, "--server", url, "tasks", "cancel", id); code != 0 {
		t.Fatalf("cancel: exit %d", code)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"tasks", "cancel", id}, "loom: cancel task " + id + ": task is cancelled: conflict with current state (409 conflict)\n"},
		{[]string{"submit", "nosuch"}, `loom: submit nosuch: unknown task type "nosuch" (422 invalid)` + "\n"},
		{[]string{"tasks", "show", "nope"}, "loom: get task nope: not found (404 not_found)\n"},
	} {
		got, code := runMainStderr(t, append([]string{"--server", url}, c.args...)...)
		if code != 1 || got != c.want {
			t.Errorf("loom %v: exit %d, stderr\n %q\nwant\n %q", c.args, code, got, c.want)
		}
	}
}
