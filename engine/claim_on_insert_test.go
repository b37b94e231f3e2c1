package engine_test

import (
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
)

// TestStepsClaimedByInsert runs a flow whose steps the engine creates
// already claimed where a claim would have started them at once, and
// pending where the queue's settings hold them back (paused, capped): each
// step gets the same events either way, and a held step waits for its
// queue.
func TestStepsClaimedByInsert(t *testing.T) {
	t.Parallel()
	first, held, capped := noop("first"), noop("held"), noop("capped")
	flow, err := loom.NewFlow("claims", loom.FlowDef{Steps: []loom.Step{
		{Task: first}, {Task: held, DependsOn: []string{"first"}}, {Task: capped, DependsOn: []string{"held"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	te := setup(t, nil, engine.Config{Queues: []engine.Queue{{Name: loom.DefaultQueue}, {Name: "held"}, {Name: "capped", Concurrency: 1}}})
	ctx := t.Context()
	if err := te.store.UpsertQueue(ctx, store.QueueConfig{Name: "held", Paused: true}); err != nil {
		t.Fatal(err)
	}
	if err := te.Register(held, engine.WithQueue("held")); err != nil {
		t.Fatal(err)
	}
	if err := te.Register(capped, engine.WithQueue("capped")); err != nil {
		t.Fatal(err)
	}
	if err := te.Register(flow); err != nil {
		t.Fatal(err)
	}
	task := te.submit(t, &engine.SubmitParams{Type: "claims"})
	step := func(name string) *loom.TaskInfo {
		children, err := te.Children(ctx, task.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range children {
			if c.Step == name {
				return c
			}
		}
		return nil
	}
	eventually(t, "the held step to be created", func() bool { return step("held") != nil })
	if got := step("held"); got.Status != loom.StatusPending || got.Attempt != 0 {
		t.Fatalf("step on a paused queue is %s in attempt %d; want pending, not claimed", got.Status, got.Attempt)
	}
	if err := te.store.UpsertQueue(ctx, store.QueueConfig{Name: "held"}); err != nil {
		t.Fatal(err)
	}
	if got := te.wait(t, task.ID); got.Status != loom.StatusCompleted {
		t.Fatalf("flow %s: %s", got.Status, got.Msg)
	}
	for _, name := range []string{"first", "held", "capped"} {
		c := step(name)
		if c.Status != loom.StatusCompleted || c.Attempt != 1 {
			t.Errorf("step %s: %s in attempt %d; want completed in attempt 1", name, c.Status, c.Attempt)
		}
		evs, err := te.store.ListEvents(ctx, &store.ListEventsParams{TaskID: c.ID})
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, ev := range evs {
			types = append(types, ev.Type)
		}
		if len(types) != 3 || types[0] != "created" || types[1] != "started" || types[2] != "completed" {
			t.Errorf("events of step %s: %v; want created, started, completed", name, types)
		}
		if evs[1].Attempt != 1 {
			t.Errorf("step %s started in attempt %d; want 1", name, evs[1].Attempt)
		}
	}
	if ev := mustEvents(t, te, step("first").ID)[0]; ev.Status != loom.StatusRunning {
		t.Errorf("first step created %s; want running, claimed by its insert", ev.Status)
	}
	if ev := mustEvents(t, te, step("capped").ID)[0]; ev.Status != loom.StatusPending {
		t.Errorf("step on a capped queue created %s; want pending, left to a claim", ev.Status)
	}
}

// mustEvents returns the store's events of task id.
func mustEvents(t *testing.T, te *testEngine, id string) []store.Event {
	t.Helper()
	evs, err := te.store.ListEvents(t.Context(), &store.ListEventsParams{TaskID: id})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}
