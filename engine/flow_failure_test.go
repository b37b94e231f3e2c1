package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
)

// A failed flow's message names the step that failed and its error, not
// a sibling step cancelled because of it, whatever their order.
func TestFlowFailureNamesFailedStep(t *testing.T) {
	t.Parallel()
	fetchStarted := make(chan struct{})
	fetch := loom.NewTask("fetch", loom.HandlerFunc(func(ctx context.Context, _ loom.Values) (loom.Values, error) {
		close(fetchStarted)
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	greet := loom.NewTask("greet", loom.HandlerFunc(func(ctx context.Context, _ loom.Values) (loom.Values, error) {
		select {
		case <-fetchStarted:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return nil, loom.Permanent(errors.New("no one to greet"))
	}))
	f, err := loom.NewFlow("hello", loom.FlowDef{Steps: []loom.Step{
		{Name: "fetch", Task: fetch},
		{Name: "greet", Task: greet},
	}})
	if err != nil {
		t.Fatal(err)
	}
	te := setup(t, nil, engine.Config{}, f)
	info := te.submit(t, &engine.SubmitParams{Type: "hello"})
	got := te.wait(t, info.ID)
	if got.Status != loom.StatusFailed {
		t.Fatalf("flow %s (%s), want failed", got.Status, got.Msg)
	}
	if !strings.Contains(got.Msg, `step "greet" failed`) || !strings.Contains(got.Msg, "no one to greet") {
		t.Fatalf("flow message %q, want it to name step greet and its error", got.Msg)
	}
	steps, err := te.Children(context.Background(), info.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		if s.Step == "fetch" && s.Status != loom.StatusCancelled {
			t.Fatalf("step fetch %s, want cancelled by its sibling's failure", s.Status)
		}
	}
}
