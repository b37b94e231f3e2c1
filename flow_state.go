package loom

import (
	"fmt"
	"slices"
)

// FlowState is the scheduling state of one flow run, kept up to date as
// its steps start and end. Ready makes the same decisions afresh from
// every step's outcome, which costs the whole flow each time; a FlowState
// costs only what changed, which is how the durable engine advances a
// long flow at the same cost per step as a short one.
//
// A FlowState is not safe for concurrent use.
type FlowState struct {
	f      *Flow
	sched  *flowSched
	data   Values // caller inputs and every key provided so far
	output Values // the keys provided so far
	// completed lists completed steps in the order they were told ended,
	// for compensation.
	completed []int
}

// NewState returns the state of a flow run whose caller inputs are in,
// with no step started yet.
func (f *Flow) NewState(in Values) *FlowState {
	return &FlowState{
		f:      f,
		sched:  newFlowSched(f, in),
		data:   in.Clone(),
		output: make(Values, len(f.provider)),
	}
}

// Start records that step was started. It reports false for an unknown
// step or one already started or decided.
func (s *FlowState) Start(step string) bool {
	i, ok := s.f.index[step]
	if !ok || s.sched.status[i] != "" {
		return false
	}
	s.sched.start(i)
	return true
}

// End records that step ended with status st and, if completed, output
// out (under the task's own output names). Telling the end of a step
// twice changes nothing, and it reports false then, or for an unknown
// step or a status that is not terminal. Steps that Next decided to skip
// are ended already.
func (s *FlowState) End(step string, st Status, out Values) bool {
	i, ok := s.f.index[step]
	if !ok || !st.Terminal() || s.sched.status[i].Terminal() {
		return false
	}
	s.sched.end(i, st, out)
	if st == StatusCompleted {
		s.f.provide(i, out, s.data)
		s.f.provide(i, out, s.output)
		s.completed = append(s.completed, i)
	}
	return true
}

// Status returns what the state knows of step: "" if it was neither
// started nor decided.
func (s *FlowState) Status(step string) Status {
	i, ok := s.f.index[step]
	if !ok {
		return ""
	}
	return s.sched.status[i]
}

// Next decides what to do now, as Ready does: the steps in Run are to be
// started (call Start for each), those in Skip are recorded ended as
// SKIPPED already. Next costs the steps it decides, not the flow's
// length, except once the run has halted, when Cancel lists every step
// that will never run.
func (s *FlowState) Next() StepPlan {
	run, skip := s.sched.next()
	plan := StepPlan{Run: s.f.names(run)}
	for _, k := range skip {
		plan.Skip = append(plan.Skip, SkippedStep{Name: s.f.steps[k.step].Name, Reason: k.reason})
	}
	if s.sched.halted() {
		for _, i := range s.f.order {
			if s.sched.status[i] == "" {
				plan.Cancel = append(plan.Cancel, s.f.steps[i].Name)
			}
		}
	}
	if s.sched.running == 0 && len(run) == 0 {
		plan.Done = true
		plan.Status = s.sched.outcome()
	}
	return plan
}

// Input computes the input of step from the data so far, as StepInput
// does with Data.
func (s *FlowState) Input(step string) (Values, error) {
	i, ok := s.f.index[step]
	if !ok {
		return nil, fmt.Errorf("flow %q: step %q: %w", s.f.name, step, ErrNotFound)
	}
	return s.f.stepInput(i, s.data)
}

// Output returns the keys provided so far: the flow's output once it
// completed. The map is the state's own; copy it to keep it.
func (s *FlowState) Output() Values { return s.output }

// Compensations returns the completed steps that have a Compensate task,
// last completed first: the order in which a failed flow undoes them.
func (s *FlowState) Compensations() []string {
	var out []string
	for _, i := range slices.Backward(s.completed) {
		if s.f.steps[i].Compensate != nil {
			out = append(out, s.f.steps[i].Name)
		}
	}
	return out
}

// CompensationInput is what step's Compensate task gets: the step's
// input merged with its output, as the library's executors give it.
func (s *FlowState) CompensationInput(step string) Values {
	in, _ := s.Input(step)
	if in == nil {
		in = Values{}
	}
	if i, ok := s.f.index[step]; ok {
		for k, v := range s.sched.outputs[i] {
			in[k] = v
		}
	}
	return in
}

// Halted reports whether a step failed or was cancelled: nothing new
// starts, and the steps still running are to be stopped.
func (s *FlowState) Halted() bool { return s.sched.halted() }
