package loom

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// StepOutcome is what a scheduler knows about a step it has dealt with: its
// status and, once completed, its task's output (under the task's own
// output names, before Provides renames them).
type StepOutcome struct {
	// Status is RUNNING (or PENDING) for a step that was started and has
	// not ended, otherwise how it ended.
	Status Status `json:"status"`
	// Output is the step's output, for a completed step.
	Output Values `json:"output,omitempty"`
}

// SkippedStep is a step Ready decided to skip, and why.
type SkippedStep struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// StepPlan is what Flow.Ready decides: the next thing to do for a flow run.
type StepPlan struct {
	// Run lists the steps to start now, in Order. Compute each one's input
	// with StepInput.
	Run []string `json:"run,omitempty"`
	// Skip lists the steps that end SKIPPED without running, in Order.
	// Steps waiting only on them are already decided in the same plan.
	Skip []SkippedStep `json:"skip,omitempty"`
	// Cancel lists the steps that will never run because a step failed or
	// was cancelled; record them CANCELLED.
	Cancel []string `json:"cancel,omitempty"`
	// Done is true when every step has ended or will never run, and none is
	// still running: the flow run has ended with Status.
	Done bool `json:"done"`
	// Status is the flow's status once Done: COMPLETED when no step failed
	// or was cancelled, else FAILED if one failed, else CANCELLED.
	Status Status `json:"status,omitempty"`
}

// Ready decides what to do next in a flow run whose caller inputs are in,
// given done: every step the scheduler has started or ended so far, by
// name. It never returns a step that is in done. It is a pure function of
// its arguments, so the durable engine advances a flow by calling it after
// every step ends: start Run, record Skip as SKIPPED and Cancel as
// CANCELLED, and finish the flow once Done.
//
// A step is ready once every step it waits for has ended. It is then
// skipped if it requires a key that a skipped step would have provided, or
// if its If returns false; otherwise it runs. Once a step has failed or was
// cancelled, nothing new starts.
func (f *Flow) Ready(in Values, done map[string]StepOutcome) StepPlan {
	s := newFlowSched(f, in)
	for _, i := range f.order {
		o, ok := done[f.steps[i].Name]
		if !ok {
			continue
		}
		if o.Status.Terminal() {
			s.end(i, o.Status, o.Output)
		} else {
			s.start(i)
		}
	}
	run, skip := s.next()
	plan := StepPlan{Run: f.names(run)}
	for _, k := range skip {
		plan.Skip = append(plan.Skip, SkippedStep{Name: f.steps[k.step].Name, Reason: k.reason})
	}
	if s.halted() {
		for _, i := range f.order {
			if s.status[i] == "" {
				plan.Cancel = append(plan.Cancel, f.steps[i].Name)
			}
		}
	}
	if s.running == 0 && len(run) == 0 {
		plan.Done = true
		plan.Status = s.outcome()
	}
	return plan
}

// Data returns the flow data of a run: its caller inputs overlaid with the
// keys provided by completed steps in done. Data(nil, done) is the flow's
// output. Steps whose output lacks a key they provide contribute what they
// have; StepOutput reports the gap.
func (f *Flow) Data(in Values, done map[string]StepOutcome) Values {
	data := in.Clone()
	for _, i := range f.order {
		if o, ok := done[f.steps[i].Name]; ok && o.Status == StatusCompleted {
			f.provide(i, o.Output, data)
		}
	}
	return data
}

// StepInput computes the input of step from the flow data: each name in
// its Requires set to the flow key it reads, or, when Requires is nil, the
// flow's caller inputs (the data keys no step provides). It fails when a
// required key is not set, which happens only if a step that provides it
// has not completed.
func (f *Flow) StepInput(step string, data Values) (Values, error) {
	i, ok := f.index[step]
	if !ok {
		return nil, fmt.Errorf("flow %q: step %q: %w", f.name, step, ErrNotFound)
	}
	return f.stepInput(i, data)
}

func (f *Flow) stepInput(i int, data Values) (Values, error) {
	s := &f.steps[i]
	if s.Requires == nil {
		in := make(Values, len(data))
		for k, v := range data {
			if _, provided := f.provider[k]; !provided {
				in[k] = v
			}
		}
		return in, nil
	}
	in := make(Values, len(s.Requires))
	for name, key := range s.Requires {
		v, ok := data[key]
		if !ok {
			return nil, fmt.Errorf("flow %q: step %q: input %q: flow key %q is not set", f.name, s.Name, name, key)
		}
		in[name] = v
	}
	return in, nil
}

// StepOutput maps a completed step's output to the flow keys it provides.
// It fails when the output lacks one of them: the step broke its contract,
// and executors fail it.
func (f *Flow) StepOutput(step string, out Values) (Values, error) {
	i, ok := f.index[step]
	if !ok {
		return nil, fmt.Errorf("flow %q: step %q: %w", f.name, step, ErrNotFound)
	}
	if err := f.checkOutput(i, out); err != nil {
		return nil, err
	}
	data := make(Values, len(f.steps[i].Provides))
	f.provide(i, out, data)
	return data, nil
}

func (f *Flow) checkOutput(i int, out Values) error {
	s := &f.steps[i]
	for _, name := range slices.Sorted(maps.Keys(s.Provides)) {
		if _, ok := out[name]; !ok {
			return fmt.Errorf("flow %q: step %q: output %q (provided as %q) is missing", f.name, s.Name, name, s.Provides[name])
		}
	}
	return nil
}

// provide copies step i's provided outputs into data under their flow keys.
func (f *Flow) provide(i int, out Values, data Values) {
	for name, key := range f.steps[i].Provides {
		if v, ok := out[name]; ok {
			data[key] = v
		}
	}
}

// flowSched is the scheduling state of one flow run, shared by Ready (built
// afresh from what the caller knows) and by the executors (kept up to date
// as steps end), so both decide alike.
type flowSched struct {
	f       *Flow
	in      Values
	status  []Status // "" until the step is started or decided
	outputs []Values
	waiting []int // parents not yet ended
	// ready holds steps whose parents have all ended and that are not yet
	// decided.
	ready   []int
	running int
	failed  bool
	stopped bool // a step failed or was cancelled
}

type skipDecision struct {
	step   int
	reason string
}

func newFlowSched(f *Flow, in Values) *flowSched {
	n := len(f.steps)
	s := &flowSched{
		f:       f,
		in:      in,
		status:  make([]Status, n),
		outputs: make([]Values, n),
		waiting: make([]int, n),
	}
	for i := range f.steps {
		s.waiting[i] = len(f.parents[i])
		if s.waiting[i] == 0 {
			s.ready = append(s.ready, i)
		}
	}
	return s
}

func (s *flowSched) start(i int) {
	s.status[i] = StatusRunning
	s.running++
}

// end records that step i ended with st (and out, if completed).
func (s *flowSched) end(i int, st Status, out Values) {
	if s.status[i] == StatusRunning {
		s.running--
	}
	s.status[i] = st
	s.outputs[i] = out
	switch st {
	case StatusFailed:
		s.failed = true
		s.stopped = true
	case StatusCancelled:
		s.stopped = true
	}
	for _, c := range s.f.children[i] {
		if s.waiting[c]--; s.waiting[c] == 0 {
			s.ready = append(s.ready, c)
		}
	}
}

func (s *flowSched) halted() bool { return s.stopped }

// next decides every ready step: the ones to run are returned (in Order,
// not yet marked started), the skipped ones are ended at once, which may
// make more steps ready.
func (s *flowSched) next() (run []int, skip []skipDecision) {
	if s.stopped {
		return nil, nil
	}
	for len(s.ready) > 0 {
		i := s.ready[0]
		s.ready = s.ready[1:]
		if s.status[i] != "" {
			continue
		}
		if why, skipped := s.skipReason(i); skipped {
			skip = append(skip, skipDecision{step: i, reason: why})
			s.end(i, StatusSkipped, nil)
			continue
		}
		run = append(run, i)
	}
	s.ready = s.ready[:0]
	pos := s.f.pos
	slices.SortFunc(run, func(a, b int) int { return pos[a] - pos[b] })
	slices.SortFunc(skip, func(a, b skipDecision) int { return pos[a.step] - pos[b.step] })
	return run, skip
}

func (s *flowSched) skipReason(i int) (string, bool) {
	f := s.f
	st := &f.steps[i]
	for _, name := range slices.Sorted(maps.Keys(st.Requires)) {
		key := st.Requires[name]
		if p, ok := f.provider[key]; ok && s.status[p] == StatusSkipped {
			return fmt.Sprintf("requires %q, which skipped step %q would have provided", key, f.steps[p].Name), true
		}
	}
	if st.If == nil {
		return "", false
	}
	data := make(Values, len(s.in))
	for k, v := range s.in {
		if _, provided := f.provider[k]; !provided {
			data[k] = v
		}
	}
	for _, a := range f.ancestors[i] {
		if s.status[a] == StatusCompleted {
			f.provide(a, s.outputs[a], data)
		}
	}
	if !st.If(data) {
		return "condition is false", true
	}
	return "", false
}

// outcome is the flow's status once nothing runs any more.
func (s *flowSched) outcome() Status {
	switch {
	case s.failed:
		return StatusFailed
	case s.stopped:
		return StatusCancelled
	}
	return StatusCompleted
}

// stepDone carries an ended step back to the flow's scheduling loop.
type stepDone struct {
	i    int
	res  *Result
	slot bool // the step held one of the executor's slots
}

// flowRun is one attempt of a flow: the scheduling loop's state. Only the
// loop's goroutine touches it; steps report back over done.
type flowRun struct {
	x       *executor
	f       *Flow
	t       *Task
	m       runMeta // a copy, so the caller's stays on its stack
	sched   *flowSched
	data    Values // caller inputs and every key provided so far
	output  Values // the keys provided so far
	results map[string]*Result
	// completed lists completed steps in the order they ended, for
	// compensation.
	completed []int
	pending   []int // decided to run, not yet started, in Order
	done      chan stepDone
	slotWait  chan struct{} // the loop's, for waiting on a slot; reused
	failErr   error         // the first failed step's error
	cancelErr error         // the first cancelled step's error
}

// runFlow runs one attempt of flow f: its steps in dependency order, as
// many at once as the executor allows, then compensation if it failed. It
// leaves each step's Result in res.Steps and returns the flow's output.
func (x *executor) runFlow(ctx context.Context, t *Task, f *Flow, in Values, m *runMeta, res *Result) (Values, error) {
	for _, k := range f.inputs {
		if _, ok := in[k]; !ok {
			return nil, Permanent(fmt.Errorf("flow %q: missing input %q", f.name, k))
		}
	}
	r := &flowRun{
		x: x, f: f, t: t, m: *m,
		sched:   newFlowSched(f, in),
		data:    in.Clone(),
		output:  make(Values, len(f.provider)),
		results: make(map[string]*Result, len(f.steps)),
	}
	res.Steps = r.results
	sctx := context.WithoutCancel(ctx)
	for _, s := range f.steps {
		if err := x.cfg.State.SaveStep(sctx, m.id, StepState{Name: s.Name, Status: StatusPending}); err != nil {
			x.cfg.Logger.ErrorContext(ctx, "saving step state", "flow", f.name, "run", m.id, "step", s.Name, "error", err)
		}
	}
	if x.slots != nil {
		r.done = make(chan stepDone)
	}

	r.decide(ctx)
	r.loop(ctx)

	// Steps that never started end here: the flow failed or was cancelled.
	for _, i := range f.order {
		if r.sched.status[i] != "" {
			continue
		}
		s := &f.steps[i]
		why := "flow cancelled"
		if r.failErr != nil {
			why = "an earlier step failed"
		}
		now := x.now()
		sr := &Result{
			RunID: m.id + "/" + s.Name, Name: s.Name, Status: StatusCancelled,
			Err: fmt.Errorf("%w: step %q did not run: %s", ErrCancelled, s.Name, why), Started: now, Ended: now,
		}
		sr.Message = sr.Err.Error()
		r.results[s.Name] = sr
		r.sched.status[i] = StatusCancelled
		sm := &runMeta{id: sr.RunID, flowRun: m.id, step: s.Name}
		_ = x.record(sctx, s.Task, nil, sm, sr, StatusCancelled)
		if x.cfg.Events.listening() {
			e := sm.event(EventTaskCancelled, s.Task, 0)
			e.Error = sr.Message
			x.emit(ctx, e)
		}
	}

	var err error
	switch {
	case r.failErr != nil:
		err = r.failErr
	case r.cancelErr != nil:
		err = r.cancelErr
	case ctx.Err() != nil:
		err = cancelError(ctx, nil)
	default:
		return r.output, nil
	}
	r.compensate(ctx)
	return nil, err
}

// loop starts decided steps while slots allow and collects ended ones,
// until nothing runs and nothing more may start.
func (r *flowRun) loop(ctx context.Context) {
	x := r.x
	for {
		for len(r.pending) > 0 && r.mayStart(ctx) {
			i := r.pending[0]
			if x.slots == nil {
				r.pending = r.pending[1:]
				r.finish(ctx, r.runStep(ctx, i, false))
				continue
			}
			slot := r.needsSlot(i)
			if slot && !x.slots.tryAcquire() {
				goto wait
			}
			r.pending = r.pending[1:]
			r.launch(ctx, i, slot)
		}
	wait:
		if r.sched.running == 0 && (len(r.pending) == 0 || !r.mayStart(ctx)) {
			return
		}
		if len(r.pending) > 0 && r.mayStart(ctx) {
			// Wait for a slot or for a step to end, whichever comes first.
			if r.slotWait == nil {
				r.slotWait = newWaiter()
			}
			w := r.slotWait
			ok := x.slots.wait(w)
			if !ok {
				select {
				case <-w:
					ok = true
				case d := <-r.done:
					x.slots.giveUp(w)
					r.finish(ctx, d)
				case <-ctx.Done():
					x.slots.giveUp(w)
				}
			}
			if ok {
				i := r.pending[0]
				r.pending = r.pending[1:]
				r.launch(ctx, i, true)
			}
			continue
		}
		r.finish(ctx, <-r.done)
	}
}

func (r *flowRun) mayStart(ctx context.Context) bool {
	return !r.sched.stopped && ctx.Err() == nil
}

// needsSlot: a nested flow or a fan-out only schedules; its own steps or
// items take slots, so it must not hold one (or a deep nesting could take
// every slot and wait forever).
func (r *flowRun) needsSlot(i int) bool {
	s := &r.f.steps[i]
	if s.FanOut != nil {
		return false
	}
	_, nested := s.Task.Handler.(*Flow)
	return !nested
}

func (r *flowRun) launch(ctx context.Context, i int, slot bool) {
	r.sched.start(i)
	in, inErr := r.f.stepInput(i, r.data)
	go func() {
		d := r.execStep(ctx, i, in, inErr)
		d.slot = slot
		r.done <- d
	}()
}

// runStep runs step i in the loop's goroutine.
func (r *flowRun) runStep(ctx context.Context, i int, slot bool) stepDone {
	r.sched.start(i)
	in, inErr := r.f.stepInput(i, r.data)
	d := r.execStep(ctx, i, in, inErr)
	d.slot = slot
	return d
}

// execStep runs step i with input in; it may run on any goroutine and
// touches nothing of the loop's state.
func (r *flowRun) execStep(ctx context.Context, i int, in Values, inErr error) stepDone {
	s := &r.f.steps[i]
	m := &runMeta{id: r.m.id + "/" + s.Name, flowRun: r.m.id, step: s.Name}
	if inErr != nil {
		return stepDone{i: i, res: r.x.failStep(ctx, s.Task, in, m, Permanent(inErr))}
	}
	if s.FanOut != nil {
		return stepDone{i: i, res: r.x.runFanOut(ctx, s, in, m)}
	}
	res := new(Result)
	if err := r.x.run(ctx, s.Task, in, m, res); err != nil {
		res = r.x.failStep(ctx, s.Task, in, m, err)
	}
	return stepDone{i: i, res: res}
}

// failStep ends a step that could not run at all.
func (x *executor) failStep(ctx context.Context, t *Task, in Values, m *runMeta, err error) *Result {
	now := x.now()
	res := &Result{RunID: m.id, Name: m.step, Status: StatusFailed, Err: err, Message: err.Error(), Started: now, Ended: now}
	_ = x.record(context.WithoutCancel(ctx), t, in, m, res, StatusFailed)
	x.emitEnd(ctx, t, m, res)
	return res
}

// finish takes in an ended step and decides what it makes ready.
func (r *flowRun) finish(ctx context.Context, d stepDone) {
	if d.slot {
		r.x.slots.release()
	}
	s := &r.f.steps[d.i]
	res := d.res
	if res.Status == StatusCompleted {
		if err := r.f.checkOutput(d.i, res.Output); err != nil {
			res.Status, res.Err, res.Message = StatusFailed, err, err.Error()
			m := &runMeta{id: res.RunID, flowRun: r.m.id, step: s.Name}
			_ = r.x.record(context.WithoutCancel(ctx), s.Task, nil, m, res, StatusFailed)
		} else {
			r.f.provide(d.i, res.Output, r.data)
			r.f.provide(d.i, res.Output, r.output)
			r.completed = append(r.completed, d.i)
		}
	}
	switch res.Status {
	case StatusFailed:
		if r.failErr == nil {
			r.failErr = fmt.Errorf("step %q: %w", s.Name, res.Err)
		}
	case StatusCancelled:
		if r.cancelErr == nil {
			r.cancelErr = fmt.Errorf("step %q: %w", s.Name, res.Err)
		}
	}
	r.results[s.Name] = res
	r.sched.end(d.i, res.Status, res.Output)
	r.decide(ctx)
}

// decide asks the scheduler for newly ready steps: skipped ones are
// recorded at once, the others queued in Order.
func (r *flowRun) decide(ctx context.Context) {
	run, skip := r.sched.next()
	x := r.x
	for _, k := range skip {
		s := &r.f.steps[k.step]
		now := x.now()
		res := &Result{RunID: r.m.id + "/" + s.Name, Name: s.Name, Status: StatusSkipped, Message: k.reason, Started: now, Ended: now}
		r.results[s.Name] = res
		m := &runMeta{id: res.RunID, flowRun: r.m.id, step: s.Name}
		_ = x.record(context.WithoutCancel(ctx), s.Task, nil, m, res, StatusSkipped)
		if x.cfg.Events.listening() {
			e := m.event(EventTaskSkipped, s.Task, 0)
			e.Error = k.reason
			x.emit(ctx, e)
		}
	}
	if len(run) == 0 {
		return
	}
	if len(r.pending) == 0 {
		r.pending = append(r.pending, run...)
		return
	}
	pos := r.f.pos
	r.pending = append(r.pending, run...)
	slices.SortFunc(r.pending, func(a, b int) int { return pos[a] - pos[b] })
}

// compensate runs the Compensate tasks of completed steps, last completed
// first. It runs even when ctx was cancelled (undoing is what a cancelled
// saga needs), and a failing compensation does not stop the others.
func (r *flowRun) compensate(ctx context.Context) {
	x := r.x
	cctx := context.WithoutCancel(ctx)
	var errs []error
	ran := false
	for k := len(r.completed) - 1; k >= 0; k-- {
		i := r.completed[k]
		s := &r.f.steps[i]
		if s.Compensate == nil {
			continue
		}
		ran = true
		in, _ := r.f.stepInput(i, r.data)
		if in == nil {
			in = Values{}
		}
		for name, v := range r.results[s.Name].Output {
			in[name] = v
		}
		name := s.Name + ".compensate"
		m := &runMeta{id: r.m.id + "/" + name, flowRun: r.m.id, step: name}
		res := new(Result)
		if err := x.run(cctx, s.Compensate, in, m, res); err != nil {
			res = x.failStep(cctx, s.Compensate, in, m, err)
		}
		r.results[name] = res
		if res.Status != StatusCompleted {
			errs = append(errs, fmt.Errorf("compensating step %q: %w", s.Name, res.Err))
			x.cfg.Logger.WarnContext(ctx, "compensation failed", "flow", r.f.name, "run", r.m.id, "step", s.Name, "error", res.Err)
		}
	}
	if ran && x.cfg.Events.listening() {
		e := r.m.event(EventCompensated, r.t, 0)
		if err := errors.Join(errs...); err != nil {
			e.Error = err.Error()
		}
		x.emit(ctx, e)
	}
}
