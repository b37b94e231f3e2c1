package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/client"
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

// TestLogsMarkStderr checks that `tasks logs` marks every line of stderr
// with a prefix when its output is not a terminal, and prints stdout bare.
func TestLogsMarkStderr(t *testing.T) {
	url, stop := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"), "--allow-exec")
	defer stop()
	out, code := runMain(t, "--server", url, "submit", "exec", `{"command":["sh","-c","echo out; echo two lines >&2; echo of stderr >&2; echo more"]}`, "--wait")
	if code != 0 {
		t.Fatalf("submit --wait: exit %d\n%s", code, out)
	}
	id := strings.Fields(out)[0]
	out, code = runMain(t, "--server", url, "tasks", "logs", id)
	// The two streams are read by two pipes, so stderr's lines may come
	// before or after "out"; each keeps its mark either way.
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	slices.Sort(lines)
	if want := []string{"more", "out", "stderr| of stderr", "stderr| two lines"}; code != 0 || !slices.Equal(lines, want) {
		t.Errorf("tasks logs: exit %d, output\n%s\nwant the lines %q", code, out, want)
	}
}

// TestLogPrinter checks how stdout, stderr and loom's notes print, line
// by line, through chunks that end mid-line.
func TestLogPrinter(t *testing.T) {
	var b strings.Builder
	lp := newLogPrinter(&b)
	lp.write("", "plain ")
	lp.write(loom.LogStdout, "stdout\n")
	lp.write(loom.LogStderr, "err 1\nerr")
	lp.write(loom.LogStderr, " 2 continued\n")
	lp.write(loom.LogStdout, "half")
	lp.write(loom.LogSystem, "http: GET /x\n")
	lp.header("── attempt 2 ──")
	lp.write(loom.LogStderr, "no newline")
	lp.header("── attempt 3 ──")
	want := "plain stdout\nstderr| err 1\nstderr| err 2 continued\nhalf\nloom| http: GET /x\n── attempt 2 ──\nstderr| no newline\n── attempt 3 ──\n"
	if b.String() != want {
		t.Errorf("printed\n%q\nwant\n%q", b.String(), want)
	}
}

// TestLogsFanOutByItem checks that `tasks logs` of a fan-out step prints
// each item's output under a header of its own, in item order, instead
// of running them together.
func TestLogsFanOutByItem(t *testing.T) {
	flows, err := filepath.Abs("../../examples/flows")
	if err != nil {
		t.Fatal(err)
	}
	url, stop := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"), "--allow-exec", "--flows", flows)
	defer stop()
	out, code := runMain(t, "--server", url, "submit", "etl", `{"records": ["alpha", "beta", "gamma"]}`, "--wait")
	if code != 0 {
		t.Fatalf("submit --wait: exit %d\n%s", code, out)
	}
	steps, err := client.New(url).Children(context.Background(), strings.Fields(out)[0])
	if err != nil {
		t.Fatal(err)
	}
	var transform string
	for _, s := range steps {
		if s.Step == "transform" {
			transform = s.ID
		}
	}
	out, code = runMain(t, "--server", url, "tasks", "logs", transform)
	want := "══ item transform[0] (completed) ══\nALPHA\n══ item transform[1] (completed) ══\nBETA\n══ item transform[2] (completed) ══\nGAMMA\n"
	if code != 0 || out != want {
		t.Errorf("tasks logs of the fan-out step: exit %d, output\n%s\nwant\n%s", code, out, want)
	}
	if out, code := runMainStderr(t, "--server", url, "tasks", "logs", transform, "--follow"); code != 1 || !strings.Contains(out, "follow one of its items") {
		t.Errorf("tasks logs --follow of a fan-out step: exit %d, %s", code, out)
	}
}
