package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPrune deletes a database's ended tasks once, and refuses bad
// retention flags.
func TestPrune(t *testing.T) {
	db := filepath.Join(t.TempDir(), "loom.db")
	url, stop := inProcessServer(t, db, "--allow-exec")
	for range 2 {
		if _, code := runMain(t, "--server", url, "submit", "exec", `{"command":["true"]}`, "--wait"); code != 0 {
			t.Fatalf("submit: exit %d", code)
		}
	}
	stop()
	time.Sleep(10 * time.Millisecond) // so that both ended more than 1ms ago
	if out, code := runMain(t, "prune", "--older-than", "1h", "--db", db); code != 0 || out != "deleted 0 tasks that ended before "+strings.TrimPrefix(out, "deleted 0 tasks that ended before ") {
		t.Errorf("prune of nothing: exit %d, %q", code, out)
	}
	if out, code := runMain(t, "prune", "--older-than", "1ms", "--db", db); code != 0 || !strings.HasPrefix(out, "deleted 2 tasks") {
		t.Errorf("prune: exit %d, %q", code, out)
	}
	for _, args := range [][]string{
		{"prune", "--db", db},
		{"prune", "--older-than", "-1h", "--db", db},
		{"server", "--retain-queue", "jobs"},
		{"server", "--retain-queue", "jobs=soon"},
		{"server", "--retain-queue", "a=1h", "--retain-queue", "a=2h"},
		{"server", "--retain", "-1h"},
	} {
		if _, code := runMain(t, args...); code != 2 {
			t.Errorf("loom %v: exit %d, want 2", args, code)
		}
	}
}
