package flowfile_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// TestDockerStep: a docker step runs the resolver's "docker" handler with
// its templates rendered and what the step receives as "input"; without a
// "docker" type, Build says so.
func TestDockerStep(t *testing.T) {
	t.Parallel()
	f, err := flowfile.Parse("f.yaml", doc(`
name: f
inputs: [tag]
steps:
  - name: first
    docker:
      image: "img:{{.tag}}"
      command: [sh, -c, "echo {{.tag}}"]
      env: {TAG: "{{.tag}}"}
      mounts: [/srv/data:/data:ro]
      cpus: 0.5
      memory: 64m
      network: none
      pull: never
      timeout: 30s
    input: {mode: fast}
    provides: {output: result}
  - name: second
    docker: {image: img}
    requires: {got: result}
    provides: {output: final}
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := build(t, f, nil); !errors.Is(err, flowfile.ErrNoDocker) || !strings.Contains(err.Error(), `f.yaml:4: step "first"`) {
		t.Errorf("Build without docker: %v, want ErrNoDocker at the first docker step", err)
	}
	var seen []loom.Values
	docker := loom.NewTask("docker", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
		seen = append(seen, in)
		return loom.Values{"output": map[string]any{"n": len(seen)}, "stdout": "", "exit_code": 0}, nil
	}))
	task, err := build(t, f, flowfile.Tasks{"docker": docker})
	if err != nil {
		t.Fatal(err)
	}
	res, err := loom.NewSyncExecutor(loom.Config{}).Execute(t.Context(), task, loom.Values{"tag": "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 {
		t.Fatalf("docker ran %d times, want 2", len(seen))
	}
	want := loom.Values{"image": "img:v1", "command": []any{"sh", "-c", "echo v1"}, "env": map[string]any{"TAG": "v1"},
		"mounts": []string{"/srv/data:/data:ro"}, "cpus": 0.5, "memory": "64m", "network": "none", "pull": "never",
		"timeout": 30.0, "input": map[string]any{"tag": "v1", "mode": "fast"}}
	if got := fmt.Sprint(seen[0]); got != fmt.Sprint(want) {
		t.Errorf("first step's docker input\n got %s\nwant %s", got, want)
	}
	if got := fmt.Sprint(seen[1]["input"]); got != "map[got:map[n:1]]" {
		t.Errorf("second step's input %s, want the first's output under got", got)
	}
	if got := fmt.Sprint(res.Output["final"]); got != "map[n:2]" {
		t.Errorf("flow output %v", res.Output)
	}
}
