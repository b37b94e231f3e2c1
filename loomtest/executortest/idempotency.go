package executortest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loomhq/loom"
)

// charge is a task keyed by its input's order id whose handler counts its
// calls, returns {"charged": order} and runs fn first when set.
func charge(calls *atomic.Int64, idem *loom.Idempotency, fn func(ctx context.Context, call int64) error) *loom.Task {
	task := counted("charge", calls, func(ctx context.Context, n int64, in loom.Values) (loom.Values, error) {
		if fn != nil {
			if err := fn(ctx, n); err != nil {
				return nil, err
			}
		}
		order, _ := in.String("order")
		return loom.Values{"charged": order, "call": n}, nil
	})
	task.Idempotency = idem
	return task
}

var idempotencyTests = []test{
	{name: "ReplayCompleted", run: func(t *testing.T, e *env) {
		var calls atomic.Int64
		task := charge(&calls, &loom.Idempotency{}, nil)
		in := loom.Values{"order": "o-1"}
		first := e.mustRun(t, task, in)
		for range 2 {
			again := e.mustRun(t, task, in)
			if !again.Replayed || again.RunID != first.RunID {
				t.Errorf("second run %+v: want the first run (%s) replayed", again, first.RunID)
			}
			if n, _ := again.Output.Int("call"); n != 1 {
				t.Errorf("replayed output %v, want the first call's", again.Output)
			}
		}
		if calls.Load() != 1 {
			t.Errorf("handler called %d times for one key", calls.Load())
		}
		if first.Replayed {
			t.Error("the first run is marked replayed")
		}
		if _, err := e.rec.WaitFor(ctx(t), func(ev loom.Event) bool { return ev.Type == loom.EventTaskReplayed }); err != nil {
			t.Errorf("no task.replayed event: %v", err)
		}
		other := e.mustRun(t, task, loom.Values{"order": "o-2"})
		if other.Replayed || calls.Load() != 2 {
			t.Errorf("other inputs make another key: %+v, %d calls", other, calls.Load())
		}
	}},
	{name: "ExplicitKey", run: func(t *testing.T, e *env) {
		var calls atomic.Int64
		task := charge(&calls, nil, nil)
		e.mustRun(t, task, loom.Values{"order": "o-1"}, loom.WithIdempotencyKey("invoice-7"))
		again := e.mustRun(t, task, loom.Values{"order": "o-2"}, loom.WithIdempotencyKey("invoice-7"))
		if !again.Replayed || calls.Load() != 1 {
			t.Errorf("a run under a taken key ran (%d calls): %+v", calls.Load(), again)
		}
		if got, _ := again.Output.String("charged"); got != "o-1" {
			t.Errorf("replayed output %v, want the first run's", again.Output)
		}
		e.mustRun(t, task, loom.Values{"order": "o-1"})
		if calls.Load() != 2 {
			t.Errorf("a task without Idempotency run without a key was deduplicated")
		}
	}},
	{name: "InFlightAttaches", run: func(t *testing.T, e *env) {
		var calls atomic.Int64
		started, release := make(chan struct{}), make(chan struct{})
		task := charge(&calls, &loom.Idempotency{}, func(ctx context.Context, n int64) error {
			if n == 1 {
				close(started)
				select {
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
		in := loom.Values{"order": "o-1"}
		// Execute from goroutines: Start of a SyncExecutor runs the task
		// before it returns.
		type outcome struct {
			res *loom.Result
			err error
		}
		run := func(out chan<- outcome) {
			res, err := e.ex.Execute(ctx(t), task, in)
			out <- outcome{res, err}
		}
		firstDone, secondDone := make(chan outcome, 1), make(chan outcome, 1)
		go run(firstDone)
		select {
		case <-started:
		case <-ctx(t).Done():
			t.Fatal("the first run never started")
		}
		go run(secondDone)
		// The second run finds the key held and waits for the first. No
		// event says it got there, so give it a moment before letting the
		// first finish; were it slower, it would find the key completed
		// and replay it, and the assertions below hold all the same.
		time.Sleep(50 * time.Millisecond)
		close(release)
		o1, o2 := <-firstDone, <-secondDone
		r1, r2 := o1.res, o2.res
		if o1.err != nil || o2.err != nil {
			t.Fatalf("runs failed: %v, %v", o1.err, o2.err)
		}
		if calls.Load() != 1 {
			t.Errorf("handler called %d times for two concurrent runs of one key", calls.Load())
		}
		if !r2.Replayed || r2.RunID != r1.RunID {
			t.Errorf("second run %+v, want the first (%s) replayed", r2, r1.RunID)
		}
	}},
	{name: "ReleaseOnFailure", run: func(t *testing.T, e *env) {
		var calls atomic.Int64
		task := charge(&calls, &loom.Idempotency{}, func(_ context.Context, n int64) error {
			if n == 1 {
				return loom.Permanent(errors.New("card declined"))
			}
			return nil
		})
		in := loom.Values{"order": "o-1"}
		failed := e.mustFail(t, task, in, loom.StatusFailed)
		res := e.mustRun(t, task, in)
		if res.Replayed || res.RunID == failed.RunID || calls.Load() != 2 {
			t.Errorf("after a failure released the key, a run should run anew: %+v, %d calls", res, calls.Load())
		}
		again := e.mustRun(t, task, in)
		if !again.Replayed || calls.Load() != 2 {
			t.Errorf("the completed rerun holds the key: %+v, %d calls", again, calls.Load())
		}
	}},
	{name: "KeepOnFailure", run: func(t *testing.T, e *env) {
		var calls atomic.Int64
		task := charge(&calls, &loom.Idempotency{OnFailure: loom.KeepOnFailure}, func(context.Context, int64) error {
			return loom.Permanent(errors.New("card declined"))
		})
		in := loom.Values{"order": "o-1"}
		failed := e.mustFail(t, task, in, loom.StatusFailed)
		again := e.mustFail(t, task, in, loom.StatusFailed)
		if !again.Replayed || again.RunID != failed.RunID || calls.Load() != 1 {
			t.Errorf("a kept failure should be replayed: %+v, %d calls", again, calls.Load())
		}
	}},
	{name: "WindowPassed", run: func(t *testing.T, e *env) {
		var calls atomic.Int64
		// A window of a nanosecond has passed by the time the next run
		// asks, on any clock that moves.
		task := charge(&calls, &loom.Idempotency{Window: time.Nanosecond}, nil)
		in := loom.Values{"order": "o-1"}
		first := e.mustRun(t, task, in)
		second := e.mustRun(t, task, in)
		if second.Replayed || second.RunID == first.RunID || calls.Load() != 2 {
			t.Errorf("a key past its window should run anew: %+v, %d calls", second, calls.Load())
		}
		third := e.mustRun(t, task, in)
		if third.Replayed || calls.Load() != 3 {
			t.Errorf("third run %+v, %d calls", third, calls.Load())
		}
	}},
	{name: "FlowKey", run: func(t *testing.T, e *env) {
		var loads, transforms atomic.Int64
		load := counted("load", &loads, func(context.Context, int64, loom.Values) (loom.Values, error) {
			return loom.Values{"rows": []any{1, 2, 3}}, nil
		})
		transform := counted("transform", &transforms, func(_ context.Context, _ int64, in loom.Values) (loom.Values, error) {
			rows, _ := in.List("rows")
			return loom.Values{"n": len(rows)}, nil
		})
		flow := mustFlow(t, "etl", loom.FlowDef{Steps: []loom.Step{
			{Task: load, Provides: map[string]string{"rows": "rows"}},
			{Task: transform, Requires: map[string]string{"rows": "rows"}, Provides: map[string]string{"n": "n"}},
		}})
		first := e.mustRun(t, flow, nil, loom.WithIdempotencyKey("etl-2026-12-03"))
		again := e.mustRun(t, flow, nil, loom.WithIdempotencyKey("etl-2026-12-03"))
		if !again.Replayed || again.RunID != first.RunID {
			t.Errorf("second flow run %+v, want the first replayed", again)
		}
		if loads.Load() != 1 || transforms.Load() != 1 {
			t.Errorf("steps ran load %d, transform %d times; want once each", loads.Load(), transforms.Load())
		}
		if n, _ := again.Output.Int("n"); n != 3 {
			t.Errorf("replayed flow output %v", again.Output)
		}
	}},
	{name: "StepKey", capability: "StepIdempotency", needs: func(c Capabilities) bool { return c.StepIdempotency }, run: func(t *testing.T, e *env) {
		var calls atomic.Int64
		step := charge(&calls, &loom.Idempotency{}, nil)
		flow := mustFlow(t, "checkout", loom.FlowDef{Inputs: []string{"order"}, Steps: []loom.Step{
			{Task: step, Requires: map[string]string{"order": "order"}, Provides: map[string]string{"charged": "charged"}},
		}})
		e.mustRun(t, flow, loom.Values{"order": "o-1"})
		res := e.mustRun(t, flow, loom.Values{"order": "o-1"})
		if calls.Load() != 1 {
			t.Errorf("a keyed step ran %d times in two flows with the same input", calls.Load())
		}
		if got, _ := res.Output.String("charged"); got != "o-1" {
			t.Errorf("second flow output %v", res.Output)
		}
		if _, err := e.rec.WaitFor(ctx(t), func(ev loom.Event) bool {
			return ev.Type == loom.EventTaskReplayed && ev.Step == "charge" && ev.FlowRunID == res.RunID
		}); err != nil {
			t.Errorf("no task.replayed event for the step: %v", err)
		}
	}},
}

func mustFlow(t *testing.T, name string, def loom.FlowDef) *loom.Task {
	t.Helper()
	f, err := loom.NewFlow(name, def)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
