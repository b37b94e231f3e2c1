package loom_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/loomhq/loom"
)

// echoTask returns a task that outputs its inputs, with "out" set to its
// name, so tests can follow data through a flow.
func echoTask(name string) *loom.Task {
	return loom.NewTask(name, loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		out := in.Clone()
		out["out"] = name
		return out, nil
	}))
}

func mustFlow(t *testing.T, name string, def loom.FlowDef) (*loom.Task, *loom.Flow) {
	t.Helper()
	task, err := loom.NewFlow(name, def)
	if err != nil {
		t.Fatalf("NewFlow(%q): %v", name, err)
	}
	return task, task.Handler.(*loom.Flow)
}

func TestNewFlowValidation(t *testing.T) {
	t.Parallel()
	a, b, c := echoTask("a"), echoTask("b"), echoTask("c")
	nested, _ := mustFlow(t, "inner", loom.FlowDef{
		Inputs: []string{"x"},
		Steps:  []loom.Step{{Task: echoTask("i"), Requires: map[string]string{"x": "x"}, Provides: map[string]string{"out": "y"}}},
	})
	tests := []struct {
		name string
		flow string
		def  loom.FlowDef
		step string // the step the error names
		msg  string // part of the message
	}{
		{
			name: "cycle through data",
			def: loom.FlowDef{Steps: []loom.Step{
				{Task: a, Requires: map[string]string{"in": "kc"}, Provides: map[string]string{"out": "ka"}},
				{Task: b, Requires: map[string]string{"in": "ka"}, Provides: map[string]string{"out": "kb"}},
				{Task: c, Requires: map[string]string{"in": "kb"}, Provides: map[string]string{"out": "kc"}},
			}},
			msg: "cycle: a -> b -> c -> a",
		},
		{
			name: "cycle through DependsOn",
			def: loom.FlowDef{Steps: []loom.Step{
				{Task: a, DependsOn: []string{"b"}},
				{Task: b, DependsOn: []string{"a"}},
			}},
			msg: "cycle: a -> b -> a",
		},
		{
			name: "step depends on itself",
			def:  loom.FlowDef{Steps: []loom.Step{{Task: a, DependsOn: []string{"a"}}}},
			msg:  "cycle: a -> a",
		},
		{
			name: "required key nobody provides",
			def: loom.FlowDef{Inputs: []string{"x"}, Steps: []loom.Step{
				{Task: a, Requires: map[string]string{"in": "nope"}},
			}},
			step: "a", msg: `requires "nope" (as input "in"), which no flow input or earlier step provides`,
		},
		{
			name: "duplicate step name",
			def:  loom.FlowDef{Steps: []loom.Step{{Task: a}, {Name: "a", Task: b}}},
			step: "a", msg: "duplicate step name",
		},
		{
			name: "missing task",
			def:  loom.FlowDef{Steps: []loom.Step{{Name: "x"}}},
			step: "x", msg: "missing task",
		},
		{
			name: "no name at all",
			def:  loom.FlowDef{Steps: []loom.Step{{Task: a}, {}}},
			msg:  "step #2 has no name",
		},
		{
			name: "missing handler",
			def:  loom.FlowDef{Steps: []loom.Step{{Task: &loom.Task{Name: "h"}}}},
			step: "h", msg: `task "h" has no handler`,
		},
		{
			name: "compensation without handler",
			def:  loom.FlowDef{Steps: []loom.Step{{Task: a, Compensate: &loom.Task{Name: "undo"}}}},
			step: "a", msg: `compensation task "undo" has no handler`,
		},
		{
			name: "unknown DependsOn",
			def:  loom.FlowDef{Steps: []loom.Step{{Task: a, DependsOn: []string{"ghost"}}}},
			step: "a", msg: `depends on unknown step "ghost"`,
		},
		{
			name: "two steps provide one key",
			def: loom.FlowDef{Steps: []loom.Step{
				{Task: a, Provides: map[string]string{"out": "k"}},
				{Task: b, Provides: map[string]string{"out": "k"}},
			}},
			step: "b", msg: `provides "k", which step "a" provides already`,
		},
		{
			name: "step provides a flow input",
			def: loom.FlowDef{Inputs: []string{"k"}, Steps: []loom.Step{
				{Task: a, Provides: map[string]string{"out": "k"}},
			}},
			step: "a", msg: `provides "k", which is a flow input`,
		},
		{
			name: "duplicate input",
			def:  loom.FlowDef{Inputs: []string{"x", "x"}, Steps: []loom.Step{{Task: a}}},
			msg:  `input "x" is listed twice`,
		},
		{
			name: "flow without name",
			flow: "-",
			def:  loom.FlowDef{Steps: []loom.Step{{Task: a}}},
			msg:  "the flow has no name",
		},
		{
			name: "fan-out without Over",
			def:  loom.FlowDef{Inputs: []string{"l"}, Steps: []loom.Step{{Task: a, FanOut: &loom.FanOut{}}}},
			step: "a", msg: "fan-out has no Over input",
		},
		{
			name: "fan-out over an input the step does not require",
			def: loom.FlowDef{Inputs: []string{"l"}, Steps: []loom.Step{
				{Task: a, Requires: map[string]string{"x": "l"}, FanOut: &loom.FanOut{Over: "list"}},
			}},
			step: "a", msg: `fan-out over "list", which is not one of the step's Requires`,
		},
		{
			name: "fan-out over a missing flow input",
			def:  loom.FlowDef{Inputs: []string{"l"}, Steps: []loom.Step{{Task: a, FanOut: &loom.FanOut{Over: "list"}}}},
			step: "a", msg: `fan-out over "list", which is not a flow input`,
		},
		{
			name: "fan-out item name clashes",
			def: loom.FlowDef{Inputs: []string{"l", "m"}, Steps: []loom.Step{
				{Task: a, Requires: map[string]string{"list": "l", "item": "m"}, FanOut: &loom.FanOut{Over: "list"}},
			}},
			step: "a", msg: `fan-out passes items as "item", which is also a required input`,
		},
		{
			name: "fan-out negative parallelism",
			def:  loom.FlowDef{Inputs: []string{"l"}, Steps: []loom.Step{{Task: a, FanOut: &loom.FanOut{Over: "l", Parallelism: -1}}}},
			step: "a", msg: "fan-out parallelism -1 is negative",
		},
		{
			name: "fan-out unknown failure mode",
			def:  loom.FlowDef{Inputs: []string{"l"}, Steps: []loom.Step{{Task: a, FanOut: &loom.FanOut{Over: "l", OnFailure: 7}}}},
			step: "a", msg: "fan-out OnFailure 7 is unknown",
		},
		{
			name: "fan-out provides an output it does not have",
			def: loom.FlowDef{Inputs: []string{"l"}, Steps: []loom.Step{
				{Task: a, FanOut: &loom.FanOut{Over: "l"}, Provides: map[string]string{"out": "k"}},
			}},
			step: "a", msg: `provides output "out"; a fan-out step outputs only results, errors and failed`,
		},
		{
			name: "nested flow input not wired",
			def: loom.FlowDef{Inputs: []string{"z"}, Steps: []loom.Step{
				{Task: nested, Requires: map[string]string{"other": "z"}},
			}},
			step: "inner", msg: `nested flow "inner" needs input "x", which the step does not require`,
		},
		{
			name: "nested flow output it does not have",
			def: loom.FlowDef{Inputs: []string{"z"}, Steps: []loom.Step{
				{Task: nested, Requires: map[string]string{"x": "z"}, Provides: map[string]string{"nope": "k"}},
			}},
			step: "inner", msg: `provides output "nope", which nested flow "inner" does not output`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name := tt.flow
			switch name {
			case "":
				name = "f"
			case "-":
				name = ""
			}
			task, err := loom.NewFlow(name, tt.def)
			if err == nil {
				t.Fatalf("NewFlow = %v, want an error", task)
			}
			if !errors.Is(err, loom.ErrInvalidFlow) {
				t.Errorf("errors.Is(%v, ErrInvalidFlow) = false", err)
			}
			var fe *loom.FlowError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *FlowError", err)
			}
			if fe.Step != tt.step {
				t.Errorf("FlowError.Step = %q, want %q", fe.Step, tt.step)
			}
			if !strings.Contains(fe.Msg, tt.msg) {
				t.Errorf("FlowError.Msg = %q, want it to contain %q", fe.Msg, tt.msg)
			}
		})
	}
}

// diamond is root -> (left, right) -> sink, with an unrelated step listed
// before the sink.
func diamond(t *testing.T) *loom.Flow {
	t.Helper()
	_, f := mustFlow(t, "diamond", loom.FlowDef{
		Inputs: []string{"x"},
		Steps: []loom.Step{
			{Name: "sink", Task: echoTask("sink"), Requires: map[string]string{"l": "left", "r": "right"}, Provides: map[string]string{"out": "result"}},
			{Name: "left", Task: echoTask("left"), Requires: map[string]string{"x": "root"}, Provides: map[string]string{"out": "left"}},
			{Name: "right", Task: echoTask("right"), Requires: map[string]string{"x": "root"}, Provides: map[string]string{"out": "right"}},
			{Name: "root", Task: echoTask("root"), Requires: map[string]string{"x": "x"}, Provides: map[string]string{"out": "root"}},
			{Name: "audit", Task: echoTask("audit"), DependsOn: []string{"root"}},
		},
	})
	return f
}

func TestFlowAccessors(t *testing.T) {
	t.Parallel()
	f := diamond(t)
	if got, want := f.Order(), []string{"root", "left", "right", "sink", "audit"}; !slices.Equal(got, want) {
		t.Errorf("Order() = %v, want %v", got, want)
	}
	if got, want := f.Inputs(), []string{"x"}; !slices.Equal(got, want) {
		t.Errorf("Inputs() = %v, want %v", got, want)
	}
	downstream := []struct {
		step string
		want []string
	}{
		{"root", []string{"left", "right", "audit"}},
		{"left", []string{"sink"}},
		{"sink", nil},
		{"ghost", nil},
	}
	for _, tt := range downstream {
		if got := f.Downstream(tt.step); !slices.Equal(got, tt.want) {
			t.Errorf("Downstream(%q) = %v, want %v", tt.step, got, tt.want)
		}
	}
	infos := f.Steps()
	if len(infos) != 5 || infos[0].Name != "sink" {
		t.Fatalf("Steps() = %+v, want the 5 steps in definition order", infos)
	}
	if got, want := infos[0].DependsOn, []string{"left", "right"}; !slices.Equal(got, want) {
		t.Errorf("sink DependsOn = %v, want %v", got, want)
	}
	if got, want := infos[4].DependsOn, []string{"root"}; !slices.Equal(got, want) {
		t.Errorf("audit DependsOn = %v, want %v", got, want)
	}
	infos[0].Requires["l"] = "changed"
	s, ok := f.Step("sink")
	if !ok || s.Requires["l"] != "left" || s.Task.Name != "sink" {
		t.Errorf("Step(sink) = %+v, %v; want the definition, unchanged by callers", s, ok)
	}
	if _, ok := f.Step("ghost"); ok {
		t.Error("Step(ghost) found a step")
	}
	if f.Name() != "diamond" {
		t.Errorf("Name() = %q", f.Name())
	}
}

func TestFlowReady(t *testing.T) {
	t.Parallel()
	done := func(st loom.Status, out loom.Values) loom.StepOutcome {
		return loom.StepOutcome{Status: st, Output: out}
	}
	ok := func(v string) loom.StepOutcome { return done(loom.StatusCompleted, loom.Values{"out": v}) }
	running := done(loom.StatusRunning, nil)

	_, condFlow := mustFlow(t, "cond", loom.FlowDef{
		Inputs: []string{"mode"},
		Steps: []loom.Step{
			{Name: "gate", Task: echoTask("gate"), Requires: map[string]string{"mode": "mode"}, Provides: map[string]string{"out": "gated"},
				If: func(d loom.Values) bool { return d["mode"] == "full" }},
			{Name: "use", Task: echoTask("use"), Requires: map[string]string{"g": "gated"}, Provides: map[string]string{"out": "used"}},
			{Name: "after", Task: echoTask("after"), DependsOn: []string{"gate"}},
			{Name: "deeper", Task: echoTask("deeper"), Requires: map[string]string{"u": "used"}},
		},
	})

	tests := []struct {
		name string
		flow *loom.Flow
		in   loom.Values
		done map[string]loom.StepOutcome
		want loom.StepPlan
	}{
		{
			name: "start: only the root",
			flow: diamond(t), in: loom.Values{"x": 1},
			want: loom.StepPlan{Run: []string{"root"}},
		},
		{
			name: "root done: its three children at once, in order",
			flow: diamond(t), in: loom.Values{"x": 1},
			done: map[string]loom.StepOutcome{"root": ok("r")},
			want: loom.StepPlan{Run: []string{"left", "right", "audit"}},
		},
		{
			name: "running steps are not returned again",
			flow: diamond(t), in: loom.Values{"x": 1},
			done: map[string]loom.StepOutcome{"root": ok("r"), "left": running, "audit": running},
			want: loom.StepPlan{Run: []string{"right"}},
		},
		{
			name: "sink waits for both branches",
			flow: diamond(t), in: loom.Values{"x": 1},
			done: map[string]loom.StepOutcome{"root": ok("r"), "left": ok("l"), "right": running, "audit": ok("a")},
			want: loom.StepPlan{},
		},
		{
			name: "all done",
			flow: diamond(t), in: loom.Values{"x": 1},
			done: map[string]loom.StepOutcome{"root": ok("r"), "left": ok("l"), "right": ok("r"), "audit": ok("a"), "sink": ok("s")},
			want: loom.StepPlan{Done: true, Status: loom.StatusCompleted},
		},
		{
			name: "a failure stops new steps and cancels the rest once nothing runs",
			flow: diamond(t), in: loom.Values{"x": 1},
			done: map[string]loom.StepOutcome{"root": ok("r"), "left": done(loom.StatusFailed, nil), "right": ok("r")},
			want: loom.StepPlan{Cancel: []string{"sink", "audit"}, Done: true, Status: loom.StatusFailed},
		},
		{
			name: "a failure while a sibling runs: not done yet",
			flow: diamond(t), in: loom.Values{"x": 1},
			done: map[string]loom.StepOutcome{"root": ok("r"), "left": done(loom.StatusFailed, nil), "right": running},
			want: loom.StepPlan{Cancel: []string{"sink", "audit"}},
		},
		{
			name: "cancelled step: flow cancelled",
			flow: diamond(t), in: loom.Values{"x": 1},
			done: map[string]loom.StepOutcome{"root": done(loom.StatusCancelled, nil)},
			want: loom.StepPlan{Cancel: []string{"left", "right", "sink", "audit"}, Done: true, Status: loom.StatusCancelled},
		},
		{
			name: "condition false: skip cascades through required keys, not DependsOn",
			flow: condFlow, in: loom.Values{"mode": "lite"},
			want: loom.StepPlan{
				Run: []string{"after"},
				Skip: []loom.SkippedStep{
					{Name: "gate", Reason: "condition is false"},
					{Name: "use", Reason: `requires "gated", which skipped step "gate" would have provided`},
					{Name: "deeper", Reason: `requires "used", which skipped step "use" would have provided`},
				},
			},
		},
		{
			name: "condition true",
			flow: condFlow, in: loom.Values{"mode": "full"},
			want: loom.StepPlan{Run: []string{"gate"}},
		},
		{
			name: "skipped steps in done count as ended",
			flow: condFlow, in: loom.Values{"mode": "lite"},
			done: map[string]loom.StepOutcome{"gate": done(loom.StatusSkipped, nil), "use": done(loom.StatusSkipped, nil),
				"deeper": done(loom.StatusSkipped, nil), "after": ok("a")},
			want: loom.StepPlan{Done: true, Status: loom.StatusCompleted},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.flow.Ready(tt.in, tt.done)
			if !planEqual(got, tt.want) {
				t.Errorf("Ready() = %+v\nwant      %+v", got, tt.want)
			}
		})
	}
}

func planEqual(a, b loom.StepPlan) bool {
	return slices.Equal(a.Run, b.Run) && slices.Equal(a.Skip, b.Skip) && slices.Equal(a.Cancel, b.Cancel) &&
		a.Done == b.Done && a.Status == b.Status
}

// The If of a step sees the flow inputs and its ancestors' keys only, so a
// sibling that happens to have completed does not change the decision.
func TestFlowReadyConditionSeesAncestorsOnly(t *testing.T) {
	t.Parallel()
	var seen loom.Values
	_, f := mustFlow(t, "f", loom.FlowDef{
		Inputs: []string{"x"},
		Steps: []loom.Step{
			{Name: "a", Task: echoTask("a"), Provides: map[string]string{"out": "ka"}},
			{Name: "b", Task: echoTask("b"), Provides: map[string]string{"out": "kb"}},
			{Name: "c", Task: echoTask("c"), DependsOn: []string{"a"}, If: func(d loom.Values) bool { seen = d.Clone(); return true }},
		},
	})
	done := map[string]loom.StepOutcome{
		"a": {Status: loom.StatusCompleted, Output: loom.Values{"out": "A"}},
		"b": {Status: loom.StatusCompleted, Output: loom.Values{"out": "B"}},
	}
	plan := f.Ready(loom.Values{"x": 1}, done)
	if !slices.Equal(plan.Run, []string{"c"}) {
		t.Fatalf("Run = %v, want [c]", plan.Run)
	}
	if len(seen) != 2 || seen["x"] != 1 || seen["ka"] != "A" {
		t.Errorf("If saw %v, want x and ka only", seen)
	}
}

func TestFlowStepInputAndOutput(t *testing.T) {
	t.Parallel()
	_, f := mustFlow(t, "f", loom.FlowDef{
		Inputs: []string{"src"},
		Steps: []loom.Step{
			{Name: "ingest", Task: echoTask("ingest"), Provides: map[string]string{"ingested_data": "raw_data"}},
			{Name: "clean", Task: echoTask("clean"), Requires: map[string]string{"input_data": "raw_data"}, Provides: map[string]string{"cleaned_data": "processed"}},
		},
	})
	data := loom.Values{"src": "s3://x", "extra": true, "raw_data": "R"}
	tests := []struct {
		step    string
		data    loom.Values
		want    loom.Values
		wantErr string
	}{
		{step: "ingest", data: data, want: loom.Values{"src": "s3://x", "extra": true}},
		{step: "clean", data: data, want: loom.Values{"input_data": "R"}},
		{step: "clean", data: loom.Values{"src": "s3://x"}, wantErr: `input "input_data": flow key "raw_data" is not set`},
		{step: "ghost", data: data, wantErr: "not found"},
	}
	for _, tt := range tests {
		got, err := f.StepInput(tt.step, tt.data)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("StepInput(%q) error = %v, want %q", tt.step, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !valuesEqual(got, tt.want) {
			t.Errorf("StepInput(%q) = %v, %v; want %v", tt.step, got, err, tt.want)
		}
	}

	out, err := f.StepOutput("clean", loom.Values{"cleaned_data": "C", "noise": 1})
	if err != nil || !valuesEqual(out, loom.Values{"processed": "C"}) {
		t.Errorf("StepOutput(clean) = %v, %v; want map[processed:C]", out, err)
	}
	if _, err := f.StepOutput("clean", loom.Values{"other": 1}); err == nil || !strings.Contains(err.Error(), `output "cleaned_data" (provided as "processed") is missing`) {
		t.Errorf("StepOutput without the provided output: error = %v", err)
	}

	all := f.Data(loom.Values{"src": "s3://x"}, map[string]loom.StepOutcome{
		"ingest": {Status: loom.StatusCompleted, Output: loom.Values{"ingested_data": "R"}},
		"clean":  {Status: loom.StatusCompleted, Output: loom.Values{"cleaned_data": "C"}},
	})
	if !valuesEqual(all, loom.Values{"src": "s3://x", "raw_data": "R", "processed": "C"}) {
		t.Errorf("Data() = %v", all)
	}
}

func valuesEqual(a, b loom.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || v != w {
			return false
		}
	}
	return true
}

// FuzzNewFlow builds flows from arbitrary wiring: NewFlow either rejects
// them with a FlowError or returns an order in which every step comes after
// the steps it waits for.
func FuzzNewFlow(f *testing.F) {
	f.Add("a:k1>k2;b:k2>k3;c:k3>", "")
	f.Add("a:>k;b:k>;c:>", "c>a")
	f.Add("a:k>k", "")
	f.Fuzz(func(t *testing.T, wiring, deps string) {
		var def loom.FlowDef
		def.Inputs = []string{"in"}
		for _, spec := range strings.Split(wiring, ";") {
			name, io, _ := strings.Cut(spec, ":")
			req, prov, _ := strings.Cut(io, ">")
			s := loom.Step{Name: name, Task: echoTask(name)}
			if req != "" {
				s.Requires = map[string]string{"r": req}
			}
			if prov != "" {
				s.Provides = map[string]string{"out": prov}
			}
			def.Steps = append(def.Steps, s)
		}
		for _, d := range strings.Split(deps, ",") {
			from, to, ok := strings.Cut(d, ">")
			for i := range def.Steps {
				if ok && def.Steps[i].Name == to {
					def.Steps[i].DependsOn = append(def.Steps[i].DependsOn, from)
				}
			}
		}
		task, err := loom.NewFlow("fuzz", def)
		if err != nil {
			if !errors.Is(err, loom.ErrInvalidFlow) {
				t.Fatalf("error %v does not match ErrInvalidFlow", err)
			}
			return
		}
		fl := task.Handler.(*loom.Flow)
		pos := map[string]int{}
		for i, n := range fl.Order() {
			pos[n] = i
		}
		if len(pos) != len(def.Steps) {
			t.Fatalf("Order() = %v, want all %d steps", fl.Order(), len(def.Steps))
		}
		for _, s := range fl.Steps() {
			for _, d := range s.DependsOn {
				if pos[d] >= pos[s.Name] {
					t.Fatalf("Order() = %v puts %s before %s, which it waits for", fl.Order(), s.Name, d)
				}
			}
		}
	})
}
