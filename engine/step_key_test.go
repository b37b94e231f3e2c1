package engine_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
)

// TestStepKeyHeldByRunningTask runs a flow whose keyed step's key is held
// by a run of the same task still in flight: the step waits for it and
// takes its result, and the handler runs once.
func TestStepKeyHeldByRunningTask(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	started, release := make(chan struct{}), make(chan struct{})
	charge := loom.NewTask("charge", loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		if calls.Add(1) == 1 {
			close(started)
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		order, _ := in.String("order")
		return loom.Values{"charged": order}, nil
	}))
	charge.Idempotency = &loom.Idempotency{}
	flow, err := loom.NewFlow("checkout", loom.FlowDef{Inputs: []string{"order"}, Steps: []loom.Step{
		{Task: charge, Requires: map[string]string{"order": "order"}, Provides: map[string]string{"charged": "charged"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	te := setup(t, nil, engine.Config{}, flow)
	ex := engine.NewDistributedExecutor(te.Engine)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	alone, err := ex.Start(ctx, charge, loom.Values{"order": "o-1"})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	fl, err := ex.Start(ctx, flow, loom.Values{"order": "o-1"})
	if err != nil {
		t.Fatal(err)
	}
	// The flow's step finds the key held; give the flow time to get
	// there (were it slower, it would find the key completed: the
	// assertions hold either way).
	eventually(t, "the flow to run", func() bool {
		info, err := te.Get(ctx, fl.RunID())
		return err == nil && info.Status == loom.StatusRunning
	})
	time.Sleep(50 * time.Millisecond)
	close(release)
	if _, err := alone.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := fl.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := res.Output.String("charged"); got != "o-1" || calls.Load() != 1 {
		t.Errorf("flow output %v after %d calls; want the running task's result and one call", res.Output, calls.Load())
	}
	step := res.Steps["charge"]
	if step == nil || step.Status != loom.StatusCompleted || step.RunID == alone.RunID() {
		t.Fatalf("step %+v: want a completed step of its own", step)
	}
	info, err := te.Get(ctx, step.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if info.Msg == "" || info.IdempotencyKey != "" {
		t.Errorf("replayed step: msg %q, key %q; want a msg naming the holder and no key of its own", info.Msg, info.IdempotencyKey)
	}
}
