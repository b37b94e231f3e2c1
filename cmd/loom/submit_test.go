package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// submitFlows are the flow files of TestSubmitCLI: one that needs an
// input, one whose first step takes a while, and one whose second step
// fails.
var submitFlows = map[string]string{
	"hello.yaml": "name: hello\ninputs: [who]\nsteps:\n  - name: greet\n    exec: [echo, 'hello, {{.who}}']\n",
	"slow.yaml": "name: slow\nsteps:\n  - name: nap\n    exec: [sleep, '1.2']\n" +
		"  - name: wake\n    exec: [echo, up]\n    depends_on: [nap]\n",
	"broken.yaml": "name: broken\nsteps:\n  - name: fetch\n    exec: [echo, ok]\n" +
		"  - name: greet\n    exec: [sh, -c, 'exit 3']\n    depends_on: [fetch]\n",
}

// TestSubmitCLI drives `loom submit` against a server in-process: a flow's
// missing input is refused naming it; --backoff sets the task's retry
// policy, which the server checks and keeps; --wait shows each failed
// attempt with its error and when its retry is due, a flow's steps as they
// run, and the step a failed flow failed in.
func TestSubmitCLI(t *testing.T) {
	url, _ := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"), "--flows", flowDir(t, submitFlows), "--allow-exec")
	submit := func(args ...string) (string, string, int) {
		t.Helper()
		return runMainEnv(t, nil, append([]string{"--server", url, "submit"}, args...)...)
	}
	wantErr := func(what string, code int, stderr string, gotCode int, want ...string) {
		t.Helper()
		if gotCode != code {
			t.Errorf("%s: exit %d, want %d; stderr:\n%s", what, gotCode, code, stderr)
		}
		for _, w := range want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr does not say %q:\n%s", what, w, stderr)
			}
		}
	}

	t.Run("missing flow input", func(t *testing.T) {
		_, stderr, code := submit("hello")
		wantErr("submit hello without input", 1, stderr, code, `flow "hello": missing input "who"`, "422")
		out, _, code := submit("hello", `{"who": "cli"}`, "--wait")
		if code != 0 || !strings.Contains(out, "completed") {
			t.Errorf("submit hello with its input: exit %d:\n%s", code, out)
		}
	})

	t.Run("retry policy flags", func(t *testing.T) {
		_, stderr, code := submit("exec", "--backoff-factor", "2")
		wantErr("--backoff-factor alone", 2, stderr, code, "--backoff-factor needs --backoff")
		_, stderr, code = submit("exec", "--input", `{"command":["true"]}`, "--max-attempts", "3", "--backoff", "1s", "--jitter", "2")
		wantErr("--jitter 2", 1, stderr, code, `"retry.jitter": 2 is not between 0 and 1`)
		_, stderr, code = submit("exec", "--input", `{"command":["true"]}`, "--backoff", "1s")
		wantErr("--backoff for one attempt", 1, stderr, code, "needs max_attempts of 2 or more")
	})

	t.Run("wait shows attempts", func(t *testing.T) {
		out, stderr, code := submit("exec", "--input", `{"command":["sh","-c","echo no >&2; exit 4"]}`,
			"--max-attempts", "2", "--backoff", "1500ms", "--backoff-factor", "2", "--max-backoff", "1m", "--jitter", "0.1", "--wait")
		wantErr("a task failing twice", 1, stderr, code)
		for _, w := range []string{`attempt 1 of 2 failed: exec "sh": exit status 4; retry due at `, `failed: exec "sh": exit status 4`} {
			if !strings.Contains(out, w) {
				t.Errorf("submit --wait does not show %q:\n%s", w, out)
			}
		}
		id := strings.Fields(out)[0]
		shown, _, code := runMainEnv(t, nil, "--server", url, "tasks", "show", id)
		if code != 0 || !strings.Contains(shown, "retry:     backoff 1.5s, factor 2, max 1m0s, jitter 0.1") {
			t.Errorf("tasks show: exit %d, the retry policy is not kept:\n%s", code, shown)
		}
	})

	t.Run("wait shows running steps", func(t *testing.T) {
		out, _, code := submit("slow", "--wait")
		if code != 0 {
			t.Fatalf("submit slow --wait: exit %d:\n%s", code, out)
		}
		for _, w := range []string{"step nap                  running", "step nap                  completed", "step wake                 completed"} {
			if !strings.Contains(out, w) {
				t.Errorf("submit --wait does not show %q:\n%s", w, out)
			}
		}
	})

	t.Run("failed flow names its step", func(t *testing.T) {
		out, _, code := submit("broken", "--wait")
		if code != 1 {
			t.Errorf("submit broken --wait: exit %d, want 1", code)
		}
		if !strings.Contains(out, `step "greet"`) || !strings.Contains(out, "exit status 3") || strings.Contains(out, "sibling") {
			t.Errorf("the failed flow's message does not name step greet and its error:\n%s", out)
		}
	})
}
