package executortest

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loomhq/loom"
)

var eventTests = []test{
	{name: "TaskLifecycle", run: func(t *testing.T, e *env) {
		var calls atomic.Int64
		task := counted("flaky", &calls, func(_ context.Context, n int64, _ loom.Values) (loom.Values, error) {
			if n == 1 {
				return nil, errFlaky
			}
			return loom.Values{"n": 1}, nil
		})
		task.Retry = &loom.RetryPolicy{MaxAttempts: 2, InitialDelay: time.Millisecond}
		res := e.mustRun(t, task, nil)
		done := e.ended(t, res.RunID)
		want := []loom.EventType{loom.EventTaskStarted, loom.EventTaskRetrying, loom.EventTaskStarted, loom.EventTaskCompleted}
		if got := e.runEvents(res.RunID); !slices.Equal(got, want) {
			t.Errorf("events %v, want %v", got, want)
		}
		if n, _ := done.Output.Int("n"); n != 1 || done.Task != "flaky" || done.Attempt != 2 {
			t.Errorf("completion event %+v", done)
		}
		if got := e.rec.Attempts("flaky"); got != 2 {
			t.Errorf("Recorder.Attempts = %d, want 2", got)
		}
	}},
	{name: "TaskFailed", run: func(t *testing.T, e *env) {
		task := loom.NewTask("broken", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
			return nil, errFlaky
		}))
		res := e.mustFail(t, task, nil, loom.StatusFailed)
		ev := e.ended(t, res.RunID)
		if ev.Type != loom.EventTaskFailed || ev.Error == "" {
			t.Errorf("end event %+v", ev)
		}
		if got := e.rec.Status("broken"); got != loom.StatusFailed {
			t.Errorf("Recorder.Status = %s", got)
		}
	}},
	{name: "FlowSteps", run: func(t *testing.T, e *env) {
		a := loom.NewTask("a", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
			return loom.Values{"x": 1}, nil
		}))
		b := loom.NewTask("b", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
			x, _ := in.Int("x")
			return loom.Values{"y": x + 1}, nil
		}))
		flow := mustFlow(t, "pipeline", loom.FlowDef{Steps: []loom.Step{
			{Name: "first", Task: a, Provides: map[string]string{"x": "x"}},
			{Name: "second", Task: b, Requires: map[string]string{"x": "x"}, Provides: map[string]string{"y": "y"}},
		}})
		res := e.mustRun(t, flow, nil)
		if ev := e.ended(t, res.RunID); ev.Type != loom.EventFlowCompleted {
			t.Fatalf("flow ended with %s", ev.Type)
		}
		if got := e.runEvents(res.RunID); len(got) == 0 || got[0] != loom.EventFlowStarted {
			t.Errorf("flow events %v, want flow.started first", got)
		}
		e.rec.AssertRan(t, "pipeline", "first", "second")
		for _, ev := range e.rec.Events() {
			if ev.Step == "" || ev.Type != loom.EventTaskCompleted {
				continue
			}
			if ev.FlowRunID != res.RunID || ev.RunID == res.RunID {
				t.Errorf("step event %+v: want its own run id and the flow's as FlowRunID", ev)
			}
		}
		if e.rec.Status("second") != loom.StatusCompleted {
			t.Errorf("step second: %s", e.rec.Status("second"))
		}
	}},
	{name: "TriggerTask", run: func(t *testing.T, e *env) {
		var followUps atomic.Int64
		done := make(chan struct{})
		followUp := counted("notify", &followUps, func(_ context.Context, _ int64, in loom.Values) (loom.Values, error) {
			if s, _ := in.String("order"); s == "o-9" {
				close(done)
			}
			return loom.Values{}, nil
		})
		off := e.events.On(loom.EventTaskCompleted, loom.TriggerTask(e.ex, followUp, func(ev loom.Event) (loom.Values, bool) {
			return ev.Output.Clone(), ev.Task == "place"
		}))
		defer off()
		place := loom.NewTask("place", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
			return loom.Values{"order": "o-9"}, nil
		}))
		e.mustRun(t, place, nil)
		select {
		case <-done:
		case <-ctx(t).Done():
			t.Fatal("the completion of place did not trigger notify")
		}
		// The triggered run ends on its own; wait for it so that nothing
		// outlives the test.
		if _, err := e.rec.WaitFor(ctx(t), func(ev loom.Event) bool {
			return ev.Task == "notify" && ev.Type == loom.EventTaskCompleted
		}); err != nil {
			t.Fatal(err)
		}
	}},
}
