package executortest

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/loomhq/loom"
)

var runIDTests = []test{
	{name: "Given", run: func(t *testing.T, e *env) {
		var calls atomic.Int64
		task := counted("named", &calls, func(context.Context, int64, loom.Values) (loom.Values, error) {
			return loom.Values{}, nil
		})
		res := e.mustRun(t, task, nil, loom.WithRunID("order-42-run"))
		if res.RunID != "order-42-run" {
			t.Errorf("run id %q, want the one given", res.RunID)
		}
		if ev := e.ended(t, "order-42-run"); ev.Type != loom.EventTaskCompleted {
			t.Errorf("the run's events are not under its id: %s", ev.Type)
		}
		h, err := e.ex.Start(ctx(t), task, nil, loom.WithRunID("order-43-run"))
		if err != nil {
			t.Fatal(err)
		}
		if h.RunID() != "order-43-run" {
			t.Errorf("handle run id %q, want the one given", h.RunID())
		}
		if res, err := h.Wait(ctx(t)); err != nil || res.RunID != "order-43-run" {
			t.Errorf("started run: %+v, %v", res, err)
		}
	}},
	{name: "Fresh", run: func(t *testing.T, e *env) {
		task := loom.NewTask("anon", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
			return loom.Values{}, nil
		}))
		a, b := e.mustRun(t, task, nil), e.mustRun(t, task, nil)
		if a.RunID == "" || a.RunID == b.RunID {
			t.Errorf("run ids %q and %q: want two distinct ids", a.RunID, b.RunID)
		}
	}},
	{name: "Unique", capability: "UniqueRunIDs", needs: func(c Capabilities) bool { return c.UniqueRunIDs }, run: func(t *testing.T, e *env) {
		var calls atomic.Int64
		task := counted("once", &calls, func(_ context.Context, n int64, _ loom.Values) (loom.Values, error) {
			return loom.Values{"call": n}, nil
		})
		first := e.mustRun(t, task, nil, loom.WithRunID("nightly-2026-12-03"))
		again := e.mustRun(t, task, nil, loom.WithRunID("nightly-2026-12-03"))
		if calls.Load() != 1 || !again.Replayed || again.RunID != first.RunID {
			t.Errorf("a second run under one id ran (%d calls): %+v", calls.Load(), again)
		}
	}},
}
