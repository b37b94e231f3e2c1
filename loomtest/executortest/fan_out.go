package executortest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/loomhq/loom"
)

// fanOutFlow maps task over the flow input "items" with fo's settings.
func fanOutFlow(t *testing.T, task *loom.Task, fo loom.FanOut) *loom.Task {
	fo.Over = "items"
	return mustFlow(t, "fan", loom.FlowDef{Inputs: []string{"items"}, Steps: []loom.Step{
		{Name: "each", Task: task, Requires: map[string]string{"items": "items"}, FanOut: &fo,
			Provides: map[string]string{"results": "results", "errors": "errors", "failed": "failed"}},
	}})
}

func square() *loom.Task {
	return loom.NewTask("square", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
		n, ok := in.Int("item")
		if !ok {
			return nil, loom.Permanent(errors.New("item is not a whole number"))
		}
		if n < 0 {
			return nil, loom.Permanent(errors.New("negative"))
		}
		return loom.Values{"sq": n * n}, nil
	}))
}

var fanOutTests = []test{
	{name: "ResultsInOrder", run: func(t *testing.T, e *env) {
		res := e.mustRun(t, fanOutFlow(t, square(), loom.FanOut{}), loom.Values{"items": []int{1, 2, 3, 4}})
		results, ok := res.Output.List("results")
		if !ok || len(results) != 4 {
			t.Fatalf("results %v", res.Output["results"])
		}
		for i, r := range results {
			m, _ := loom.AsMap(r)
			if sq, _ := m.Int("sq"); sq != int64((i+1)*(i+1)) {
				t.Errorf("results[%d] = %v", i, r)
			}
		}
		if failed, ok := res.Output.Int("failed"); !ok || failed != 0 {
			t.Errorf("failed = %v", res.Output["failed"])
		}
	}},
	{name: "FailFast", run: func(t *testing.T, e *env) {
		res := e.mustFail(t, fanOutFlow(t, square(), loom.FanOut{OnFailure: loom.FailFast}), loom.Values{"items": []int{1, -2, 3}}, loom.StatusFailed)
		if s := res.Steps["each"]; s == nil || s.Status != loom.StatusFailed {
			t.Errorf("fan-out step: %+v", s)
		}
	}},
	{name: "CollectAndContinue", run: func(t *testing.T, e *env) {
		res := e.mustRun(t, fanOutFlow(t, square(), loom.FanOut{OnFailure: loom.CollectAndContinue}), loom.Values{"items": []int{1, -2, 3}})
		failed, _ := res.Output.Int("failed")
		errs, _ := res.Output.List("errors")
		results, _ := res.Output.List("results")
		if failed != 1 || len(errs) != 3 || len(results) != 3 {
			t.Fatalf("output %v", res.Output)
		}
		if errs[1] == "" || errs[0] != "" || results[1] != nil {
			t.Errorf("item 1 failed: errors %v, results %v", errs, results)
		}
		third, _ := loom.AsMap(results[2])
		if sq, _ := third.Int("sq"); sq != 9 {
			t.Errorf("results[2] = %v", results[2])
		}
	}},
	{name: "ParallelismBound", run: func(t *testing.T, e *env) {
		var mu sync.Mutex
		running, peak := 0, 0
		task := loom.NewTask("bounded", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
			mu.Lock()
			running++
			peak = max(peak, running)
			mu.Unlock()
			defer func() { mu.Lock(); running--; mu.Unlock() }()
			return loom.Values{}, nil
		}))
		e.mustRun(t, fanOutFlow(t, task, loom.FanOut{Parallelism: 2}), loom.Values{"items": []int{1, 2, 3, 4, 5, 6}})
		mu.Lock()
		defer mu.Unlock()
		if peak > 2 {
			t.Errorf("%d items ran at once under Parallelism 2", peak)
		}
	}},
	{name: "ItemRuns", capability: "FanOutItemRuns", needs: func(c Capabilities) bool { return c.FanOutItemRuns }, run: func(t *testing.T, e *env) {
		var calls atomic.Int64
		flaky := counted("flaky-item", &calls, func(_ context.Context, n int64, in loom.Values) (loom.Values, error) {
			if item, _ := in.Int("item"); item == 2 && n <= 3 {
				return nil, errFlaky
			}
			return loom.Values{}, nil
		})
		flaky.Retry = &loom.RetryPolicy{MaxAttempts: 3, InitialDelay: 1}
		res := e.mustRun(t, fanOutFlow(t, flaky, loom.FanOut{Parallelism: 1}), loom.Values{"items": []int{1, 2, 3}})
		e.ended(t, res.RunID)
		starts := 0
		for _, ev := range e.rec.Events() {
			if ev.Type == loom.EventTaskStarted && strings.HasPrefix(ev.Step, "each[") && ev.Task == "flaky-item" {
				starts++
			}
		}
		// Each item's events carry the step's name with the item's index,
		// "each[1]". Item 1 once, item 2 three attempts (the first call of item 2 is
		// call 2), item 3 once: each item retried by its own policy.
		if calls.Load() != 5 || starts != 5 {
			t.Errorf("calls %d, item start events %d; want 5 and 5", calls.Load(), starts)
		}
	}},
}
