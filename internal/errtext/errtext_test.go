package errtext

import "testing"

func TestClean(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"cancel task X: engine: cancel X: cancel task X: task is cancelled: store: conflict with current state (409 conflict)",
			"cancel task X: task is cancelled: conflict with current state (409 conflict)"},
		{`submit nosuch: engine: submit: engine: unknown task type "nosuch" (422 invalid)`,
			`submit nosuch: unknown task type "nosuch" (422 invalid)`},
		{"get task nope: engine: get task nope: get task nope: loom: not found (404 not_found)",
			"get task nope: not found (404 not_found)"},
		{"loom: timed out: loom: timed out", "timed out"},
		{"wait for X: loom: timed out", "wait for X: timed out"},
		// Text that only looks like segments is kept as written.
		{`--input must be a JSON object, like '{"name": "world"}'`, `--input must be a JSON object, like '{"name": "world"}'`},
		{"store", "store"},
		{"", ""},
	} {
		if got := Clean(c.in); got != c.want {
			t.Errorf("Clean(%q)\n = %q\nwant %q", c.in, got, c.want)
		}
	}
}
