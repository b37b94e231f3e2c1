package engine_test

import (
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
)

// TestStepQueues runs a flow whose one step's task was registered on its
// own queue and whose other was not: the first runs on its queue, the
// second on the flow's.
func TestStepQueues(t *testing.T) {
	t.Parallel()
	fetch, parse := noop("fetch"), noop("parse")
	flow, err := loom.NewFlow("ingest", loom.FlowDef{Steps: []loom.Step{
		{Task: fetch}, {Task: parse, DependsOn: []string{"fetch"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	te := setup(t, nil, engine.Config{Queues: []engine.Queue{{Name: loom.DefaultQueue}, {Name: "io"}, {Name: "batch"}}})
	if err := te.Register(fetch, engine.WithQueue("io")); err != nil {
		t.Fatal(err)
	}
	if err := te.Register(flow, engine.WithQueue("batch")); err != nil {
		t.Fatal(err)
	}
	task := te.submit(t, &engine.SubmitParams{Type: "ingest"})
	if got := te.wait(t, task.ID); got.Status != loom.StatusCompleted || got.Queue != "batch" {
		t.Fatalf("flow %s on %q: %s", got.Status, got.Queue, got.Msg)
	}
	children, err := te.Children(t.Context(), task.ID)
	if err != nil {
		t.Fatal(err)
	}
	queues := map[string]string{}
	for _, c := range children {
		queues[c.Step] = c.Queue
	}
	if queues["fetch"] != "io" || queues["parse"] != "batch" {
		t.Errorf("step queues %v; want fetch on its own queue io, parse on the flow's batch", queues)
	}
}
