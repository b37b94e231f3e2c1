package loom_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/loomhq/loom"
)

// FlowState decides as Ready does, step by step, keeps the data steps
// provide, tells each end once, and lists compensations last completed
// first.
func TestFlowStateMatchesReady(t *testing.T) {
	t.Parallel()
	h := loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) { return nil, nil })
	task := func(name string) *loom.Task { return loom.NewTask(name, h) }
	ft, err := loom.NewFlow("diamond", loom.FlowDef{
		Inputs: []string{"n"},
		Steps: []loom.Step{
			{Name: "a", Task: task("a"), Provides: map[string]string{"x": "x"}, Compensate: task("undo-a")},
			{Name: "b", Task: task("b"), Requires: map[string]string{"x": "x"}, Provides: map[string]string{"y": "y"}, Compensate: task("undo-b")},
			{Name: "c", Task: task("c"), Requires: map[string]string{"x": "x"}, Provides: map[string]string{"z": "z"},
				If: func(d loom.Values) bool { return d["x"] == "go" }},
			{Name: "d", Task: task("d"), Requires: map[string]string{"y": "y", "z": "z"}},
			{Name: "e", Task: task("e"), DependsOn: []string{"b"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := ft.Handler.(*loom.Flow)
	in := loom.Values{"n": 1}
	s := f.NewState(in)
	done := map[string]loom.StepOutcome{}
	outputs := map[string]loom.Values{"a": {"x": "stop"}, "b": {"y": 2}, "e": {}}
	for round := 0; ; round++ {
		want := f.Ready(in, done)
		got := s.Next()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: Next %+v, Ready %+v", round, got, want)
		}
		for _, sk := range got.Skip {
			done[sk.Name] = loom.StepOutcome{Status: loom.StatusSkipped}
		}
		if got.Done {
			if got.Status != loom.StatusCompleted {
				t.Fatalf("flow %s, want completed", got.Status)
			}
			break
		}
		for _, name := range got.Run {
			if !s.Start(name) || s.Start(name) {
				t.Fatalf("Start(%s) twice did not report true then false", name)
			}
			if name == "b" || name == "e" || name == "a" {
				in, err := s.Input(name)
				if err != nil {
					t.Fatalf("input of %s: %v", name, err)
				}
				if name == "b" && in["x"] != "stop" {
					t.Fatalf("b's input %v, want x from a", in)
				}
			}
			if !s.End(name, loom.StatusCompleted, outputs[name]) || s.End(name, loom.StatusCompleted, outputs[name]) {
				t.Fatalf("End(%s) twice did not report true then false", name)
			}
			done[name] = loom.StepOutcome{Status: loom.StatusCompleted, Output: outputs[name]}
		}
	}
	if st := s.Status("c"); st != loom.StatusSkipped {
		t.Errorf("c %s, want skipped (its If is false)", st)
	}
	if st := s.Status("d"); st != loom.StatusSkipped {
		t.Errorf("d %s, want skipped (it requires what c would provide)", st)
	}
	if got := s.Compensations(); !reflect.DeepEqual(got, []string{"b", "a"}) {
		t.Errorf("compensations %v, want [b a]", got)
	}
	if got := s.CompensationInput("b"); got["x"] != "stop" || got["y"] != 2 {
		t.Errorf("b's compensation input %v, want its input and output", got)
	}
	if got := s.Output(); got["x"] != "stop" || got["y"] != 2 {
		t.Errorf("output %v", got)
	}
	if s.Halted() {
		t.Error("halted without a failure")
	}
	if s.End("b", loom.StatusFailed, nil) {
		t.Error("a step ended twice changed the state")
	}
}

// A failed step halts the run: Next starts nothing and, once nothing
// runs, the run is done and failed.
func TestFlowStateHaltsOnFailure(t *testing.T) {
	t.Parallel()
	h := loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) { return nil, nil })
	ft, err := loom.NewFlow("pair", loom.FlowDef{Steps: []loom.Step{
		{Name: "a", Task: loom.NewTask("a", h)},
		{Name: "b", Task: loom.NewTask("b", h)},
		{Name: "c", Task: loom.NewTask("c", h), DependsOn: []string{"a", "b"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	s := ft.Handler.(*loom.Flow).NewState(nil)
	plan := s.Next()
	for _, n := range plan.Run {
		s.Start(n)
	}
	s.End("a", loom.StatusFailed, nil)
	if !s.Halted() {
		t.Fatal("not halted after a step failed")
	}
	if plan := s.Next(); plan.Done || len(plan.Run) > 0 || !reflect.DeepEqual(plan.Cancel, []string{"c"}) {
		t.Fatalf("plan %+v while b runs, want c to cancel and nothing to run", plan)
	}
	s.End("b", loom.StatusCancelled, nil)
	if plan := s.Next(); !plan.Done || plan.Status != loom.StatusFailed {
		t.Fatalf("plan %+v, want done and failed", plan)
	}
}
