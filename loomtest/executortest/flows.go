package executortest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/loomhq/loom"
)

func returns(name string, out loom.Values) *loom.Task {
	return loom.NewTask(name, loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
		return out.Clone(), nil
	}))
}

var flowTests = []test{
	{name: "DataFlows", run: func(t *testing.T, e *env) {
		double := loom.NewTask("double", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
			n, _ := in.Int("n")
			return loom.Values{"n": 2 * n}, nil
		}))
		flow := mustFlow(t, "math", loom.FlowDef{Inputs: []string{"x"}, Steps: []loom.Step{
			{Name: "once", Task: double, Requires: map[string]string{"n": "x"}, Provides: map[string]string{"n": "y"}},
			{Name: "twice", Task: double, Requires: map[string]string{"n": "y"}, Provides: map[string]string{"n": "z"}},
		}})
		res := e.mustRun(t, flow, loom.Values{"x": 5})
		if z, _ := res.Output.Int("z"); z != 20 {
			t.Errorf("flow output %v", res.Output)
		}
		for _, step := range []string{"once", "twice"} {
			if s := res.Steps[step]; s == nil || s.Status != loom.StatusCompleted {
				t.Errorf("step %s: %+v", step, s)
			}
		}
	}},
	{name: "StepFails", run: func(t *testing.T, e *env) {
		bad := loom.NewTask("bad", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
			return nil, errors.New("upstream 503")
		}))
		flow := mustFlow(t, "doomed", loom.FlowDef{Steps: []loom.Step{
			{Name: "fetch", Task: bad, Provides: map[string]string{"body": "body"}},
			{Name: "parse", Task: returns("parse", loom.Values{}), Requires: map[string]string{"body": "body"}},
		}})
		res := e.mustFail(t, flow, nil, loom.StatusFailed)
		if !strings.Contains(res.Message, "fetch") || !strings.Contains(res.Message, "upstream 503") {
			t.Errorf("message %q should name the failed step and its error", res.Message)
		}
		if s := res.Steps["fetch"]; s == nil || s.Status != loom.StatusFailed {
			t.Errorf("step fetch: %+v", s)
		}
		if s := res.Steps["parse"]; s != nil && s.Status == loom.StatusCompleted {
			t.Errorf("step parse ran after its input failed: %+v", s)
		}
		if ev := e.ended(t, res.RunID); ev.Type != loom.EventFlowFailed {
			t.Errorf("flow ended with %s", ev.Type)
		}
	}},
	{name: "Condition", run: func(t *testing.T, e *env) {
		flow := mustFlow(t, "maybe", loom.FlowDef{Inputs: []string{"big"}, Steps: []loom.Step{
			{Name: "always", Task: returns("always", loom.Values{"a": 1}), Provides: map[string]string{"a": "a"}},
			{Name: "onlyBig", Task: returns("onlyBig", loom.Values{"b": 1}), Provides: map[string]string{"b": "b"},
				If: func(d loom.Values) bool { big, _ := d.Bool("big"); return big }},
		}})
		res := e.mustRun(t, flow, loom.Values{"big": false})
		if s := res.Steps["onlyBig"]; s == nil || s.Status != loom.StatusSkipped {
			t.Errorf("step onlyBig: %+v, want skipped", s)
		}
		if _, ok := res.Output["b"]; ok {
			t.Errorf("a skipped step provided its key: %v", res.Output)
		}
		if _, err := e.rec.WaitFor(ctx(t), func(ev loom.Event) bool {
			return ev.Type == loom.EventTaskSkipped && ev.Step == "onlyBig" && ev.FlowRunID == res.RunID
		}); err != nil {
			t.Errorf("no task.skipped event for the step: %v", err)
		}
		res = e.mustRun(t, flow, loom.Values{"big": true})
		if s := res.Steps["onlyBig"]; s == nil || s.Status != loom.StatusCompleted {
			t.Errorf("step onlyBig: %+v, want completed", s)
		}
	}},
	{name: "Compensation", capability: "Compensation", needs: func(c Capabilities) bool { return c.Compensation }, run: func(t *testing.T, e *env) {
		var mu sync.Mutex
		var undone []string
		undo := func(name string) *loom.Task {
			return loom.NewTask("undo-"+name, loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
				mu.Lock()
				defer mu.Unlock()
				undone = append(undone, name)
				return loom.Values{}, nil
			}))
		}
		fail := loom.NewTask("ship", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
			return nil, loom.Permanent(errors.New("no courier"))
		}))
		flow := mustFlow(t, "saga", loom.FlowDef{Steps: []loom.Step{
			{Name: "reserve", Task: returns("reserve", loom.Values{"r": 1}), Provides: map[string]string{"r": "r"}, Compensate: undo("reserve")},
			{Name: "charge", Task: returns("charge", loom.Values{"c": 1}), Requires: map[string]string{"r": "r"}, Provides: map[string]string{"c": "c"}, Compensate: undo("charge")},
			{Name: "ship", Task: fail, Requires: map[string]string{"c": "c"}},
		}})
		e.mustFail(t, flow, nil, loom.StatusFailed)
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(undone, []string{"charge", "reserve"}) {
			t.Errorf("compensations ran %v, want charge then reserve", undone)
		}
	}},
}
