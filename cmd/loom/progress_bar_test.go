package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom"
)

func TestProgressBar(t *testing.T) {
	for _, tc := range []struct {
		p    loom.Progress
		want string
	}{
		{loom.Progress{Done: 5, Total: 10, Message: "copying"}, "[#####.....]  50%  5/10  copying"},
		{loom.Progress{Done: 10, Total: 10}, "[##########] 100%  10/10"},
		{loom.Progress{Done: 12, Total: 10}, "[##########] 100%  12/10"},
		{loom.Progress{Done: 42, Message: "rows"}, "42 done  rows"},
	} {
		if got := progressBar(&tc.p, 10); got != tc.want {
			t.Errorf("progressBar(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}

// TestProgressLinesNotTerminal: written to a file, the bar is a line of
// its own when a tenth more is done, not at every report, and once more
// when the task has ended; nothing is redrawn in place.
func TestProgressLinesNotTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	task := &loom.TaskInfo{ID: "t1", Type: "copy", Status: loom.StatusRunning, Attempt: 1, MaxAttempts: 1}
	for done := int64(0); done <= 1000; done += 10 {
		task.Progress = &loom.Progress{Done: done, Total: 1000, Message: "copying", UpdatedAt: time.Now()}
		p.update(task, nil)
	}
	task.Status = loom.StatusCompleted
	p.update(task, nil)
	out := buf.String()
	if strings.ContainsAny(out, "\r\x1b") {
		t.Fatalf("redrawn in place in a file:\n%q", out)
	}
	lines := strings.Count(out, "progress [")
	// 0%, 10%, ..., 100% while running, and the last one at the end.
	if lines < 11 || lines > 13 {
		t.Errorf("%d progress lines, want one a tenth:\n%s", lines, out)
	}
	if !strings.Contains(out, "[##############################] 100%  1000/1000  copying") {
		t.Errorf("no full bar at the end:\n%s", out)
	}
}

// TestProgressCLI: an exec task's progress lines reach the API, and
// `submit --wait` and `tasks show` draw its bar.
func TestProgressCLI(t *testing.T) {
	url, _ := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"), "--allow-exec")
	script := "echo '::progress 1/4 warming up'; sleep 0.3; echo '::progress 3/4 three of four'; echo done"
	out, code := runMain(t, "--server", url, "submit", "exec", "--input", `{"command":["sh","-c","`+script+`"]}`, "--wait")
	if code != 0 || !strings.Contains(out, "completed") {
		t.Fatalf("submit --wait: exit %d:\n%s", code, out)
	}
	bar := "[######################........]  75%  3/4  three of four"
	if !strings.Contains(out, "progress "+bar) {
		t.Errorf("submit --wait does not draw the bar %q:\n%s", bar, out)
	}
	id := strings.Fields(out)[0]
	out, code = runMain(t, "--server", url, "tasks", "show", id)
	if code != 0 || !strings.Contains(out, "progress:") || !strings.Contains(out, bar) {
		t.Errorf("tasks show: exit %d, no bar %q:\n%s", code, bar, out)
	}
	out, code = runMain(t, "--server", url, "--json", "tasks", "show", id)
	if code != 0 || !strings.Contains(out, `"progress"`) || !strings.Contains(out, `"done": 3`) {
		t.Errorf("tasks show --json: exit %d:\n%s", code, out)
	}
}
