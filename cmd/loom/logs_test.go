package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestLogsSeparateAttempts checks that `tasks logs` of a task that ran
// twice heads each attempt's output, and that one attempt prints bare.
func TestLogsSeparateAttempts(t *testing.T) {
	url, stop := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"), "--allow-exec")
	defer stop()
	out, code := runMain(t, "--server", url, "submit", "exec", `{"command":["sh","-c","echo try; exit 1"]}`, "--max-attempts", "2", "--wait")
	if code != 1 {
		t.Fatalf("submit --wait: exit %d, want 1\n%s", code, out)
	}
	id := strings.Fields(out)[0]
	out, code = runMain(t, "--server", url, "tasks", "logs", id)
	want := "── attempt 1 ──\ntry\n── attempt 2 ──\ntry\n"
	if code != 0 || out != want {
		t.Errorf("tasks logs: exit %d, output\n%q\nwant\n%q", code, out, want)
	}
	out, code = runMain(t, "--server", url, "tasks", "logs", id, "--attempt", "2")
	if code != 0 || out != "try\n" {
		t.Errorf("tasks logs --attempt 2: exit %d, output %q", code, out)
	}
}
