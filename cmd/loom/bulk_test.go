package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestBulkRetryAndCancelCLI drives `tasks retry` and `tasks cancel`
// without an id: a dry run counts, a run acts, a second run finds nothing,
// and no filter at all is a usage error.
func TestBulkRetryAndCancelCLI(t *testing.T) {
	url, stop := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"), "--allow-exec")
	defer stop()
	cli := func(args ...string) (string, int) { return runMain(t, append([]string{"--server", url}, args...)...) }
	for range 3 {
		if _, code := cli("submit", "exec", `{"command":["false"]}`, "--max-attempts", "1", "--wait"); code != 1 {
			t.Fatalf("a failing task: exit %d", code)
		}
	}
	if out, code := cli("tasks", "retry", "--type", "exec", "--since", "1h", "--dry-run"); code != 0 || out != "would retry 3 tasks\n" {
		t.Errorf("dry run: exit %d, %q", code, out)
	}
	if out, code := cli("tasks", "retry", "--status", "failed", "--type", "exec", "--limit", "2"); code != 0 || out != "retried 2 tasks; more match: run it again, or raise --limit\n" {
		t.Errorf("retry: exit %d, %q", code, out)
	}
	if _, code := cli("tasks", "retry"); code != 2 {
		t.Errorf("retry without an id or a filter: exit %d, want 2", code)
	}
	if _, code := cli("tasks", "retry", "x", "--type", "exec"); code != 2 {
		t.Errorf("retry with an id and a filter: exit %d, want 2", code)
	}
	if _, code := cli("tasks", "retry", "--since", "yesterday"); code != 2 {
		t.Errorf("a bad --since: exit %d, want 2", code)
	}
	if out, code := cli("tasks", "cancel", "--queue", "nothing-here"); code != 0 || out != "no task matches; nothing to cancel\n" {
		t.Errorf("cancel of nothing: exit %d, %q", code, out)
	}
	out, code := cli("tasks", "cancel", "--all", "--status", "nope")
	if code != 1 || strings.Contains(out, "cancelled") {
		t.Errorf("cancel with a bad status: exit %d, %q", code, out)
	}
}
