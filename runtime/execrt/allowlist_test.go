package execrt_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/runtime/execrt"
)

func TestAllowlistCheck(t *testing.T) {
	t.Parallel()
	a, err := execrt.ParseAllowlist([]string{"echo ...", "/usr/local/bin/report ?*", "git -C /srv/* pull"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in execrt.Input
		ok bool
	}{
		{execrt.Input{Command: []string{"echo"}}, true},
		{execrt.Input{Command: []string{"echo", "a", "b c"}}, true},
		{execrt.Input{Command: []string{"/usr/local/bin/report", "daily"}}, true},
		{execrt.Input{Command: []string{"/usr/local/bin/report"}}, false},
		{execrt.Input{Command: []string{"/usr/local/bin/report", ""}}, false},
		{execrt.Input{Command: []string{"/usr/local/bin/report", "a", "b"}}, false},
		{execrt.Input{Command: []string{"git", "-C", "/srv/app/x", "pull"}}, true},
		{execrt.Input{Command: []string{"git", "-C", "/srv/app", "push"}}, false},
		{execrt.Input{Command: []string{"sh", "-c", "echo"}}, false},
		{execrt.Input{Command: []string{"echoo"}}, false},
		{execrt.Input{Command: []string{"/bin/echo"}}, false},
		{execrt.Input{Command: []string{"echo"}, Env: map[string]string{"LD_PRELOAD": "/tmp/x.so"}}, false},
		{execrt.Input{Command: []string{"echo"}, Dir: "/tmp"}, false},
	} {
		err := a.Check(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("Check(%q env %v dir %q) = %v, want ok %v", tc.in.Command, tc.in.Env, tc.in.Dir, err, tc.ok)
		}
		if err != nil && (!errors.Is(err, execrt.ErrNotAllowed) || !strings.Contains(err.Error(), execrt.AllowFlag)) {
			t.Errorf("Check(%q) = %v, want ErrNotAllowed naming %s", tc.in.Command, err, execrt.AllowFlag)
		}
	}
	if _, err := execrt.ParseAllowlist([]string{"  ..."}); err == nil {
		t.Error("ParseAllowlist accepted a pattern without a program")
	}
}

func TestHandlerAllowlist(t *testing.T) {
	t.Parallel()
	a, err := execrt.ParseAllowlist([]string{"true"})
	if err != nil {
		t.Fatal(err)
	}
	h := execrt.New(execrt.Config{Allow: a})
	if _, err := h.Handle(context.Background(), execrt.Input{Command: []string{"true"}}.Values()); err != nil {
		t.Fatalf("allowed command: %v", err)
	}
	_, err = h.Handle(context.Background(), execrt.Input{Command: []string{"false"}}.Values())
	if !errors.Is(err, execrt.ErrNotAllowed) || !loom.IsPermanent(err) {
		t.Fatalf("refused command: %v, want a permanent ErrNotAllowed", err)
	}
}

// TestAllowlistSource: a refusal names where the patterns come from, and
// CheckPattern judges one pattern as ParseAllowlist does.
func TestAllowlistSource(t *testing.T) {
	t.Parallel()
	a, err := execrt.ParseAllowlist([]string{"echo ..."})
	if err != nil {
		t.Fatal(err)
	}
	a.Source = "allow_exec in tools.yaml"
	for _, in := range []execrt.Input{{Command: []string{"id"}}, {Command: []string{"echo"}, Dir: "/"}} {
		if err := a.Check(in); !errors.Is(err, execrt.ErrNotAllowed) || !strings.Contains(err.Error(), "allow_exec in tools.yaml") {
			t.Errorf("Check(%q) = %v, want ErrNotAllowed naming the source", in.Command, err)
		}
	}
	for _, p := range []string{"", "  ", "...", " ... "} {
		if err := execrt.CheckPattern(p); err == nil {
			t.Errorf("CheckPattern(%q) accepted a pattern without a program", p)
		}
	}
	for _, p := range []string{"echo", "echo ...", "/bin/report ?*"} {
		if err := execrt.CheckPattern(p); err != nil {
			t.Errorf("CheckPattern(%q): %v", p, err)
		}
	}
}
