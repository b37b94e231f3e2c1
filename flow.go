package loom

import (
	"container/heap"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// FlowDef is the body of a flow (the seed's CompositeTask): the inputs the
// caller supplies and the steps wired from them.
type FlowDef struct {
	// Inputs are the keys the caller passes to the flow. A step's Requires
	// may name them as well as keys earlier steps provide.
	Inputs []string
	// Steps are the flow's steps. Their order is kept for SyncExecutor and
	// for steps the DAG leaves unordered.
	Steps []Step
}

// Step is one step of a flow: a task and how it is wired into the flow's
// data.
//
// A step waits for every step that provides a key it requires and for every
// step it names in DependsOn; nothing else orders steps, so the order in
// which they are listed only breaks ties.
type Step struct {
	// Name names the step within the flow. Default: Task.Name.
	Name string
	// Task is what the step runs; a flow built with NewFlow nests here.
	Task *Task
	// Requires maps each of the task's input names to the flow data key it
	// reads (the seed's requires={"input_data": "raw_data"}). When nil, the
	// step receives the flow's inputs as given.
	Requires map[string]string
	// Provides maps each of the task's output names to the flow data key it
	// writes (the seed's provides={"ingested_data": "raw_data"}). The flow's
	// output is the union of every provided key. A step that completes
	// without one of the outputs it provides fails. Nil provides nothing.
	Provides map[string]string
	// DependsOn names steps that must end first even though no data passes
	// between them.
	DependsOn []string
	// If, when set, is asked before the step runs, with the flow's data so
	// far; false skips the step (status SKIPPED), and the keys it would
	// provide stay unset.
	//
	// The data holds the flow's inputs and the keys provided by the steps
	// this one waits for, directly or not, so the decision does not depend
	// on how an executor happened to schedule unrelated branches. A step
	// that requires a key a skipped step would have provided is skipped
	// too, rather than failed, and so on downstream; a step that only
	// DependsOn a skipped step runs.
	If func(data Values) bool
	// Compensate, when set, runs if the flow fails after this step
	// completed, in reverse order of completion (a saga). It gets the step's
	// inputs merged with its outputs.
	Compensate *Task
	// FanOut, when set, makes the step map Task over a list (see FanOut).
	FanOut *FanOut
}

// PartialFailure says what a fan-out does when some items fail.
type PartialFailure int

const (
	// FailFast fails the fan-out step at the first failed item, cancelling
	// items still running.
	FailFast PartialFailure = iota
	// CollectAndContinue runs every item and completes the step with the
	// failures listed alongside the results.
	CollectAndContinue
)

// The output names of a fan-out step.
const (
	fanOutResults = "results"
	fanOutErrors  = "errors"
	fanOutFailed  = "failed"
)

// FanOut maps a step's task over a list produced at run time. The step's
// output is {"results": [...], "errors": [...], "failed": n}: one entry per
// item, in the list's order, results[i] the item's output (nil if it
// failed) and errors[i] its error text ("" if it completed). A later step
// fans in by requiring "results" (renamed through Provides as usual).
//
// Each item runs as a run of the step's Task, with its retry policy,
// timeout, breaker and idempotency. results is a []any of Values, errors a
// []string and failed an int.
type FanOut struct {
	// Over is the step input (after Requires) that holds the list.
	Over string
	// As is the input name under which each item is passed to Task; the
	// step's other inputs are passed alongside. Default "item".
	As string
	// Parallelism bounds how many items run at once. Default: the
	// executor's Parallelism.
	Parallelism int
	// OnFailure picks fail-fast (default) or collect-and-continue.
	OnFailure PartialFailure
}

// Flow is a validated DAG of steps: the Handler of a Task built by NewFlow.
// Executors run its steps with their own concurrency; Handle runs them one
// at a time, which is what a plain handler call gets.
//
// A Flow never changes once built, so it is safe for concurrent use, and
// its read accessors (Steps, Order, Ready, StepInput...) let a UI draw it
// and the durable engine advance it one step at a time.
type Flow struct {
	name   string
	inputs []string
	steps  []Step // normalised: names and fan-out defaults filled in
	index  map[string]int
	// parents[i] are the steps i waits for (data and DependsOn), children[i]
	// those waiting for i; both sorted by definition index.
	parents  [][]int
	children [][]int
	order    []int
	// pos[i] is step i's place in order.
	pos []int
	// provider maps each provided flow key to the step providing it.
	provider map[string]int
	// ancestors[i], computed only for steps with an If, is every step i
	// waits for, directly or not, in definition order.
	ancestors [][]int
}

// NewFlow builds and validates a flow and returns it as a Task named name,
// whose Handler is the *Flow. Validation errors match ErrInvalidFlow and
// name the problem: a cycle (with its steps), a required key that no
// earlier step or flow input provides, a duplicate or missing step name, an
// unknown DependsOn.
//
// They also catch a step without a task or handler, two steps providing the
// same key (or a step providing a flow input), a nested flow whose inputs
// the step does not wire, and fan-out settings that cannot work. "Earlier"
// means an ancestor in the DAG: a step waits for the providers of the keys
// it requires, so every provider is one.
//
// The returned Task's Timeout bounds the whole flow, its Retry re-runs the
// whole flow, and its Idempotency deduplicates whole flow runs; set the
// steps' own policies on their tasks.
func NewFlow(name string, def FlowDef) (*Task, error) {
	f, err := buildFlow(name, def)
	if err != nil {
		return nil, err
	}
	return &Task{Name: name, Handler: f}, nil
}

func buildFlow(name string, def FlowDef) (*Flow, error) {
	f := &Flow{
		name:     name,
		inputs:   slices.Clone(def.Inputs),
		steps:    make([]Step, len(def.Steps)),
		index:    make(map[string]int, len(def.Steps)),
		provider: make(map[string]int),
	}
	bad := func(step, format string, args ...any) error {
		return &FlowError{Flow: name, Step: step, Msg: fmt.Sprintf(format, args...)}
	}
	if name == "" {
		return nil, bad("", "the flow has no name")
	}
	isInput := make(map[string]bool, len(def.Inputs))
	for _, in := range def.Inputs {
		if in == "" {
			return nil, bad("", "an input has an empty name")
		}
		if isInput[in] {
			return nil, bad("", "input %q is listed twice", in)
		}
		isInput[in] = true
	}

	// Names, tasks and provided keys first: wiring needs all of them.
	for i, s := range def.Steps {
		if s.Name == "" && s.Task != nil {
			s.Name = s.Task.Name
		}
		if s.Name == "" {
			return nil, bad("", "step #%d has no name (set Step.Name or its Task's Name)", i+1)
		}
		if _, dup := f.index[s.Name]; dup {
			return nil, bad(s.Name, "duplicate step name")
		}
		if s.Task == nil {
			return nil, bad(s.Name, "missing task")
		}
		if s.Task.Handler == nil {
			return nil, bad(s.Name, "task %q has no handler", s.Task.Name)
		}
		if s.Compensate != nil && s.Compensate.Handler == nil {
			return nil, bad(s.Name, "compensation task %q has no handler", s.Compensate.Name)
		}
		if s.FanOut != nil {
			fo := *s.FanOut
			if fo.As == "" {
				fo.As = "item"
			}
			s.FanOut = &fo
		}
		for _, out := range slices.Sorted(maps.Keys(s.Provides)) {
			key := s.Provides[out]
			if key == "" {
				return nil, bad(s.Name, "output %q is provided under an empty key", out)
			}
			if isInput[key] {
				return nil, bad(s.Name, "provides %q, which is a flow input", key)
			}
			if other, dup := f.provider[key]; dup {
				return nil, bad(s.Name, "provides %q, which step %q provides already", key, f.steps[other].Name)
			}
			f.provider[key] = i
		}
		f.index[s.Name] = i
		f.steps[i] = s
	}

	// Edges: a step waits for the providers of what it requires and for
	// what it DependsOn.
	n := len(f.steps)
	f.parents = make([][]int, n)
	f.children = make([][]int, n)
	for i, s := range f.steps {
		var ps []int
		for _, in := range slices.Sorted(maps.Keys(s.Requires)) {
			key := s.Requires[in]
			if p, ok := f.provider[key]; ok {
				ps = append(ps, p)
				continue
			}
			if !isInput[key] {
				return nil, bad(s.Name, "requires %q (as input %q), which no flow input or earlier step provides", key, in)
			}
		}
		for _, d := range s.DependsOn {
			p, ok := f.index[d]
			if !ok {
				return nil, bad(s.Name, "depends on unknown step %q", d)
			}
			ps = append(ps, p)
		}
		slices.Sort(ps)
		ps = slices.Compact(ps)
		f.parents[i] = ps
		for _, p := range ps {
			f.children[p] = append(f.children[p], i)
		}
		if err := f.checkStep(s, isInput, bad); err != nil {
			return nil, err
		}
	}
	if cyc := f.findCycle(); cyc != nil {
		names := make([]string, len(cyc))
		for k, i := range cyc {
			names[k] = f.steps[i].Name
		}
		return nil, bad("", "cycle: %s", strings.Join(names, " -> "))
	}
	f.order = f.topoOrder()
	f.pos = make([]int, n)
	for p, i := range f.order {
		f.pos[i] = p
	}
	f.ancestors = make([][]int, n)
	for i, s := range f.steps {
		if s.If != nil {
			f.ancestors[i] = f.ancestorsOf(i)
		}
	}
	return f, nil
}

// checkStep validates what concerns one step alone once edges are known:
// nested flow wiring and fan-out settings.
func (f *Flow) checkStep(s Step, isInput map[string]bool, bad func(step, format string, args ...any) error) error {
	if nested, ok := s.Task.Handler.(*Flow); ok && s.FanOut == nil && s.Requires != nil {
		for _, in := range nested.inputs {
			if _, ok := s.Requires[in]; !ok {
				return bad(s.Name, "nested flow %q needs input %q, which the step does not require", nested.name, in)
			}
		}
	}
	if nested, ok := s.Task.Handler.(*Flow); ok && s.FanOut == nil {
		for _, out := range slices.Sorted(maps.Keys(s.Provides)) {
			if _, ok := nested.provider[out]; !ok {
				return bad(s.Name, "provides output %q, which nested flow %q does not output", out, nested.name)
			}
		}
	}
	fo := s.FanOut
	if fo == nil {
		return nil
	}
	switch {
	case fo.Over == "":
		return bad(s.Name, "fan-out has no Over input")
	case s.Requires != nil && s.Requires[fo.Over] == "":
		return bad(s.Name, "fan-out over %q, which is not one of the step's Requires", fo.Over)
	case s.Requires == nil && !isInput[fo.Over]:
		return bad(s.Name, "fan-out over %q, which is not a flow input", fo.Over)
	case fo.As != fo.Over && s.Requires != nil && s.Requires[fo.As] != "":
		return bad(s.Name, "fan-out passes items as %q, which is also a required input", fo.As)
	case fo.Parallelism < 0:
		return bad(s.Name, "fan-out parallelism %d is negative", fo.Parallelism)
	case fo.OnFailure != FailFast && fo.OnFailure != CollectAndContinue:
		return bad(s.Name, "fan-out OnFailure %d is unknown", fo.OnFailure)
	}
	for _, out := range slices.Sorted(maps.Keys(s.Provides)) {
		if out != fanOutResults && out != fanOutErrors && out != fanOutFailed {
			return bad(s.Name, "provides output %q; a fan-out step outputs only results, errors and failed", out)
		}
	}
	return nil
}

// findCycle returns a cycle as step indexes, first step repeated at the
// end, or nil. It starts from steps in definition order so that the same
// flow always reports the same cycle.
func (f *Flow) findCycle() []int {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(f.steps))
	var stack []int
	var found []int
	var visit func(i int) bool
	visit = func(i int) bool {
		color[i] = grey
		stack = append(stack, i)
		for _, c := range f.children[i] {
			switch color[c] {
			case grey:
				start := slices.Index(stack, c)
				found = append(slices.Clone(stack[start:]), c)
				return true
			case white:
				if visit(c) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[i] = black
		return false
	}
	for i := range f.steps {
		if color[i] == white && visit(i) {
			return found
		}
	}
	return nil
}

// topoOrder is Kahn's algorithm always taking the ready step defined first,
// so the order is the definition order wherever the DAG allows it.
func (f *Flow) topoOrder() []int {
	n := len(f.steps)
	waiting := make([]int, n)
	h := &intHeap{}
	for i := range f.steps {
		waiting[i] = len(f.parents[i])
		if waiting[i] == 0 {
			heap.Push(h, i)
		}
	}
	order := make([]int, 0, n)
	for h.Len() > 0 {
		i := heap.Pop(h).(int)
		order = append(order, i)
		for _, c := range f.children[i] {
			if waiting[c]--; waiting[c] == 0 {
				heap.Push(h, c)
			}
		}
	}
	return order
}

func (f *Flow) ancestorsOf(i int) []int {
	seen := make([]bool, len(f.steps))
	stack := slices.Clone(f.parents[i])
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[p] {
			continue
		}
		seen[p] = true
		stack = append(stack, f.parents[p]...)
	}
	var out []int
	for k, ok := range seen {
		if ok {
			out = append(out, k)
		}
	}
	return out
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Handle runs the flow's steps in order in the calling goroutine, with the
// steps' policies applied as a SyncExecutor of default configuration would.
func (f *Flow) Handle(ctx context.Context, in Values) (Values, error) {
	res, err := NewSyncExecutor(Config{}).Execute(ctx, &Task{Name: f.name, Handler: f}, in)
	if err != nil {
		return nil, err
	}
	return res.Output, nil
}

// Name returns the name the flow was built with.
func (f *Flow) Name() string { return f.name }

// StepInfo describes one step of a flow for display and scheduling.
type StepInfo struct {
	// Name is the step's name within the flow.
	Name string `json:"name"`
	// Task is the name of the task the step runs.
	Task string `json:"task"`
	// Requires and Provides are the step's wiring, task name to flow key.
	Requires map[string]string `json:"requires,omitempty"`
	Provides map[string]string `json:"provides,omitempty"`
	// DependsOn lists every step this one waits for: the providers of the
	// keys it requires and its explicit DependsOn, in definition order.
	DependsOn []string `json:"depends_on,omitempty"`
	// Conditional is true when the step has an If.
	Conditional bool `json:"conditional,omitempty"`
	// Compensate is the name of the compensation task, if any.
	Compensate string `json:"compensate,omitempty"`
	// FanOut is the step's fan-out with defaults filled in, if any.
	FanOut *FanOut `json:"fan_out,omitempty"`
	// Flow is true when the step's task is itself a flow.
	Flow bool `json:"flow,omitempty"`
}

// Steps describes the flow's steps in definition order.
func (f *Flow) Steps() []StepInfo {
	out := make([]StepInfo, len(f.steps))
	for i, s := range f.steps {
		info := StepInfo{
			Name:        s.Name,
			Task:        s.Task.Name,
			Requires:    maps.Clone(s.Requires),
			Provides:    maps.Clone(s.Provides),
			DependsOn:   f.names(f.parents[i]),
			Conditional: s.If != nil,
		}
		if s.Compensate != nil {
			info.Compensate = s.Compensate.Name
		}
		if s.FanOut != nil {
			fo := *s.FanOut
			info.FanOut = &fo
		}
		_, info.Flow = s.Task.Handler.(*Flow)
		out[i] = info
	}
	return out
}

// Inputs returns the keys the caller passes to the flow.
func (f *Flow) Inputs() []string { return slices.Clone(f.inputs) }

// Order returns the step names in a topological order: every step after
// those it waits for, and otherwise in definition order. SyncExecutor runs
// steps in this order.
func (f *Flow) Order() []string { return f.names(f.order) }

// Downstream returns the steps that wait directly for step, in Order; nil
// for an unknown step.
func (f *Flow) Downstream(step string) []string {
	i, ok := f.index[step]
	if !ok {
		return nil
	}
	cs := slices.Clone(f.children[i])
	slices.SortFunc(cs, func(a, b int) int { return f.pos[a] - f.pos[b] })
	return f.names(cs)
}

// Step returns the step named name as defined (with Name and fan-out
// defaults filled in); its maps and slices are copies.
func (f *Flow) Step(name string) (Step, bool) {
	i, ok := f.index[name]
	if !ok {
		return Step{}, false
	}
	s := f.steps[i]
	s.Requires = maps.Clone(s.Requires)
	s.Provides = maps.Clone(s.Provides)
	s.DependsOn = slices.Clone(s.DependsOn)
	if s.FanOut != nil {
		fo := *s.FanOut
		s.FanOut = &fo
	}
	return s, true
}

func (f *Flow) names(idx []int) []string {
	if len(idx) == 0 {
		return nil
	}
	out := make([]string, len(idx))
	for k, i := range idx {
		out[k] = f.steps[i].Name
	}
	return out
}
