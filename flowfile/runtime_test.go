package flowfile_test

import (
	"context"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/flowfile"
)

// TestTypeExecStepKeepsItsCommand: the input a flow is given reaches a
// "type: exec" step only through its requires, so a caller cannot replace
// the command the file names.
func TestTypeExecStepKeepsItsCommand(t *testing.T) {
	t.Parallel()
	f, err := flowfile.Parse("f.yaml", doc(`
name: f
steps:
  - name: run
    type: exec
    input: {command: [echo, fixed]}
    provides: {stdout: out}
`))
	if err != nil {
		t.Fatal(err)
	}
	task, err := build(t, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := loom.NewSyncExecutor(loom.Config{}).Execute(t.Context(), task, loom.Values{"command": []any{"echo", "replaced"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Output["out"] != "fixed\n" {
		t.Fatalf("output %v, want the file's command's", res.Output)
	}
}

// TestRuntimesFromResolver: exec and http steps run the handlers the
// resolver gives for "exec" and "http", as a server passes its guarded
// http client.
func TestRuntimesFromResolver(t *testing.T) {
	t.Parallel()
	f, err := flowfile.Parse("f.yaml", doc(`
name: f
inputs: [path]
steps:
  - name: get
    http: {url: "http://example.invalid/{{.path}}"}
    provides: {body: seen}
`))
	if err != nil {
		t.Fatal(err)
	}
	mine := loom.NewTask("http", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
		return loom.Values{"body": in["url"]}, nil
	}))
	task, err := build(t, f, flowfile.Tasks{"http": mine})
	if err != nil {
		t.Fatal(err)
	}
	res, err := loom.NewSyncExecutor(loom.Config{}).Execute(t.Context(), task, loom.Values{"path": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Output["seen"] != "http://example.invalid/x" {
		t.Fatalf("output %v, want the resolver's handler's", res.Output)
	}
}
