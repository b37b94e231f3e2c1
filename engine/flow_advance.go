package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/auth"
	"github.com/loomhq/loom/store"
)

// A flow runs as a parent task that never reaches a worker: once claimed,
// its lease is stretched to its deadline and the engine advances it. Each
// step is a child task (ParentID, Step, the parent's queue, priority and
// deadline), inserted when it becomes ready. A step the flow skips (its If
// is false, or it needs a key a skipped step would have provided) is
// inserted already ended, with status skipped and the reason as its msg, so
// every surface shows it. Steps that will never run because another failed
// are not created.
//
// advance is a pure function of the parent and its children's states,
// which is what makes it safe to run again at any time: after a step ends,
// after a restart for every running flow, after a retry. Re-inserting a
// step that exists is a no-op in the store.

// flowStepType is the task type of a fan-out step of a flow: flow/step[],
// a name no step's own task has (flow files name theirs flow/step), so
// that the step's task stays the type its items run.
func flowStepType(flow, step string) string { return flow + "/" + step + "[]" }

// registerSteps registers the tasks a flow's steps run.
func (e *Engine) registerSteps(f *loom.Flow, opts []RegisterOption) error {
	for _, name := range f.Order() {
		s, _ := f.Step(name)
		if s.Compensate != nil {
			if err := e.Register(s.Compensate, opts...); err != nil {
				return fmt.Errorf("flow %q step %q compensation: %w", f.Name(), name, err)
			}
		}
		if s.FanOut == nil {
			if err := e.Register(s.Task, append(slices.Clip(opts), viaFlow)...); err != nil {
				return fmt.Errorf("flow %q step %q: %w", f.Name(), name, err)
			}
			continue
		}
		// Each item runs as a task of the step's type; the step's own
		// task is advanced by the engine (see fan_out.go). Its handler,
		// the library's in-process fan-out, is what a plain call of the
		// type would run.
		if err := e.Register(s.Task, opts...); err != nil {
			return fmt.Errorf("flow %q step %q: %w", f.Name(), name, err)
		}
		fo := *s.FanOut
		inputs := []string{fo.Over}
		for k := range s.Requires {
			if k != fo.Over {
				inputs = append(inputs, k)
			}
		}
		one, err := loom.NewFlow(flowStepType(f.Name(), name), loom.FlowDef{
			Inputs: inputs,
			Steps: []loom.Step{{
				Name: name, Task: s.Task, FanOut: &fo,
				Provides: map[string]string{"results": "results", "errors": "errors", "failed": "failed"},
			}},
		})
		if err != nil {
			return fmt.Errorf("flow %q fan-out step %q: %w", f.Name(), name, err)
		}
		inner := one.Handler
		h := loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
			return inner.Handle(ctx, in)
		})
		e.mu.Lock()
		if _, ok := e.types[one.Name]; !ok {
			e.types[one.Name] = &registration{task: &loom.Task{Name: one.Name, Handler: h, Timeout: s.Task.Timeout},
				queue: loom.DefaultQueue, fanOut: &fo, item: s.Task}
		}
		e.mu.Unlock()
		e.cfg.Metrics.KnowTypes(one.Name)
	}
	return nil
}

// startFlow takes over a claimed flow task: no heartbeat keeps its lease,
// so it is stretched to the flow's deadline, and the flow is advanced.
func (e *Engine) startFlow(ctx context.Context, t *loom.TaskInfo) {
	_, err := e.store.ExtendLeases(ctx, &store.ExtendLeasesParams{
		Leases: []store.Lease{{ID: t.ID, Attempt: t.Attempt}},
		// Until the flow expires, counted in real time as leases are.
		LeaseUntil: leaseUntil(t.Timeout.Sub(e.clock.Now())),
	})
	if err != nil {
		e.logger.Error("engine: extend flow lease", "task", t.ID, "err", err)
	}
	e.runs.drop(t.ID)
	e.flows.push(t.ID)
}

// advanceFlows advances the flows pushed on e.flows until ctx is done.
func (e *Engine) advanceFlows(ctx context.Context) {
	defer e.flows.releaseHold()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.flows.signal:
		}
		items, release := e.flows.take()
		for _, it := range items {
			if err := e.advance(ctx, it.id, it.ended); err != nil && ctx.Err() == nil {
				e.logger.Error("engine: advance flow", "task", it.id, "err", err)
			}
		}
		release()
	}
}

// advance takes in the children of flow id that ended and moves the flow
// on: it creates ready steps, records skipped ones, runs compensations
// and ends the flow once its steps have. It works on the flow's run kept
// in memory, loaded from the store when there is none or it is stale.
func (e *Engine) advance(ctx context.Context, id string, ended []*loom.TaskInfo) error {
	r := e.runs.get(id)
	for _, c := range ended {
		if r != nil && !r.apply(c) {
			e.runs.drop(id)
			r = nil
		}
	}
	fresh := r == nil
	if fresh {
		var err error
		if r, err = e.loadRun(ctx, id); err != nil || r == nil {
			return err
		}
		e.runs.put(r)
	}
	known := len(r.children)
	var err error
	if r.fan != nil {
		err = e.advanceFanOut(ctx, r)
	} else {
		err = e.advanceFlow(ctx, r)
	}
	if err == nil && !fresh && len(r.children) == known && e.runs.get(id) == r && r.waiting() {
		// Nothing to do until a child ends: make sure none ended that
		// another engine recorded, or the flow would wait for ever.
		err = e.checkRunning(ctx, r)
	}
	if errors.Is(err, errStaleRun) {
		e.runs.drop(id)
		e.flows.push(id)
		return nil
	}
	return err
}

// checkRunning compares the children r believes are running with the
// store's: errStaleRun if one ended there. It costs the flow's running
// children, read only when the flow waits.
func (e *Engine) checkRunning(ctx context.Context, r *flowRun) error {
	want := make(map[string]bool)
	for _, c := range r.children {
		if !c.status.Terminal() {
			want[c.id] = true
		}
	}
	if len(want) == 0 {
		return nil
	}
	page, err := e.store.ListTasks(ctx, &store.ListTasksParams{
		ParentID: r.parent.ID, Status: []loom.Status{loom.StatusPending, loom.StatusRunning}, Limit: len(want) + 1,
	})
	if err != nil {
		return err
	}
	if len(page.Tasks) != len(want) {
		return errStaleRun
	}
	for _, t := range page.Tasks {
		if !want[t.ID] {
			return errStaleRun
		}
	}
	return nil
}

// errStaleRun says a flow's run in memory missed what another engine did.
var errStaleRun = errors.New("flow run is stale")

// loadRun reads a running flow and its children; nil if it does not run
// (any more) or is not a flow of this engine's.
func (e *Engine) loadRun(ctx context.Context, id string) (*flowRun, error) {
	parent, err := e.store.GetTask(ctx, id)
	if err != nil {
		return nil, err
	}
	if parent.Status != loom.StatusRunning {
		return nil, nil
	}
	reg := e.lookup(parent.Type)
	if reg == nil || !reg.advanced() {
		return nil, nil
	}
	children, err := e.store.ListChildren(ctx, id)
	if err != nil {
		return nil, err
	}
	r := newFlowRun(parent)
	if reg.fanOut != nil {
		newFanOutRun(r, reg, children)
		return r, nil
	}
	r.flow = reg.flow
	r.load(children)
	return r, nil
}

// A step that this engine runs itself is created already claimed, leased
// to this engine, and handed straight to its workers: the dispatcher's
// claim, a write transaction of its own, and the wait for it are spared,
// which is most of what a step of a linear flow costs besides running it.
// It is claimed so only when a claim would have taken it at once: the
// engine claims (it is not shutting down), serves the step's queue with
// its own workers and without a concurrency cap, runs the step's type on
// a worker, and has a worker's slot free for it; the store creates it pending instead when its queue is paused or
// capped (InsertTasksParams.Claimed). What follows is what follows a
// claim: heartbeats keep the lease, and a crash lets it lapse, so that the
// reaper gives the step back to pending.

// claimable reports whether step task t may be created claimed, claims
// steps of the same advance being already.
func (e *Engine) claimable(t *loom.TaskInfo, claims int) bool {
	reg := e.lookup(t.Type)
	if reg == nil || reg.advanced() {
		return false
	}
	q, ok := e.queueOf(t.Queue)
	// Only while a worker's slot is free and no due task waits: a step
	// must not pass the tasks that wait in the store ahead of it.
	return ok && !q.External && q.Concurrency == 0 && !e.held.Load() && e.inflight.len()+claims < e.cfg.Workers
}

// insertClaimed inserts children of r's parent as insertChildren does, the
// running ones claimed by their insert, and hands those the store started
// to this engine's workers. If the engine stopped claiming meanwhile, they
// are inserted pending, for a claim to take.
func (e *Engine) insertClaimed(ctx context.Context, r *flowRun, ts []*loom.TaskInfo) error {
	e.claimMu.Lock()
	if !e.claiming {
		e.claimMu.Unlock()
		for _, t := range ts {
			if t.Status == loom.StatusRunning {
				t.Status, t.Attempt, t.WorkerID, t.Started, t.LeaseUntil = loom.StatusPending, 0, "", nil, nil
			}
		}
		return e.insertChildren(ctx, r, ts)
	}
	now := e.clock.Now()
	res, err := e.insertTasks(ctx, &store.InsertTasksParams{Tasks: ts, Now: now, Claimed: true})
	if err != nil {
		e.claimMu.Unlock()
		return err
	}
	byQueue := make(map[string][]*loom.TaskInfo)
	var claimed []*loom.TaskInfo
	for i, ir := range res {
		if !ir.Existing && ts[i].Status == loom.StatusRunning && ir.Task.Status == loom.StatusRunning {
			byQueue[ir.Task.Queue] = append(byQueue[ir.Task.Queue], ir.Task)
			claimed = append(claimed, ir.Task)
		}
	}
	e.observeClaimed(claimed, now)
	for name, tasks := range byQueue {
		q, _ := e.queueOf(name)
		e.handOut(ctx, q, tasks)
	}
	e.claimMu.Unlock()
	return e.takeInserted(ctx, r, ts, res)
}

// insertChildren creates children of r's parent and records them in r.
// A child that exists already means another engine advanced the flow:
// errStaleRun.
func (e *Engine) insertChildren(ctx context.Context, r *flowRun, ts []*loom.TaskInfo) error {
	res, err := e.insertTasks(ctx, &store.InsertTasksParams{Tasks: ts, Now: e.clock.Now()})
	if err != nil {
		return err
	}
	return e.takeInserted(ctx, r, ts, res)
}

// takeInserted records in r the children an insert of ts created or
// found (res), and wakes the dispatcher for those left pending.
func (e *Engine) takeInserted(ctx context.Context, r *flowRun, ts []*loom.TaskInfo, res []store.InsertResult) error {
	pending := false
	for _, ir := range res {
		if ir.Existing || ir.Task == nil || ir.Task.Status == loom.StatusPending {
			pending = true
		}
	}
	if pending {
		e.notify()
	} else {
		e.feed.nudge()
	}
	stale, keyed := false, false
	for i, ir := range res {
		if ir.Existing {
			if held := ir.Task; ts[i].IdempotencyKey != "" && held != nil && (held.ParentID != r.parent.ID || held.Step != ts[i].Step) {
				// Another task holds the step's key: settleKeyedSteps
				// decides what the step becomes.
				keyed = true
				continue
			}
			stale = true
		}
		r.add(ir.Task)
	}
	if stale {
		return errStaleRun
	}
	if keyed && r.flow != nil {
		// The run in memory believes those steps started; the store knows
		// better. The next advance, which settleKeyedSteps asks for once
		// the step can go on, reads the flow afresh.
		e.runs.drop(r.parent.ID)
		return e.settleKeyedSteps(ctx, r.flow, r.parent, ts, res)
	}
	return nil
}

// advanceFlow creates the flow's ready steps, records skipped ones, and
// ends the flow once its steps have (after compensating, if it failed).
func (e *Engine) advanceFlow(ctx context.Context, r *flowRun) error {
	f, parent := r.flow, r.parent
	plan := r.state.Next()
	now := e.clock.Now()
	var inserts []*loom.TaskInfo
	claims := 0
	for _, sk := range plan.Skip {
		s, _ := f.Step(sk.Name)
		ended := now
		inserts = append(inserts, &loom.TaskInfo{
			Type: e.stepType(f, s), Queue: parent.Queue, ParentID: parent.ID, Step: sk.Name,
			Status: loom.StatusSkipped, Result: loom.ResultComplete, Msg: "skipped: " + sk.Reason,
			Started: &ended, Ended: &ended, Timeout: parent.Timeout, MaxAttempts: 1,
		})
	}
	for _, name := range plan.Run {
		s, _ := f.Step(name)
		in, err := r.state.Input(name)
		if err != nil {
			return e.endFlow(ctx, parent, loom.StatusFailed, nil, err.Error())
		}
		key, _, err := stepKey(s, in)
		if err != nil {
			return e.endFlow(ctx, parent, loom.StatusFailed, nil, err.Error())
		}
		r.state.Start(name)
		typ := e.stepType(f, s)
		t := &loom.TaskInfo{
			Type: typ, Queue: e.stepQueue(typ, parent.Queue), ParentID: parent.ID, Step: name,
			Input: in, Priority: parent.Priority, Timeout: parent.Timeout,
			MaxAttempts: e.stepAttempts(s), Attributes: parent.Attributes, IdempotencyKey: key,
			TraceParent: parent.TraceParent,
		}
		if e.claimable(t, claims) {
			// Created running, leased to this engine, as a claim would.
			lease := leaseUntil(e.cfg.LeaseDuration)
			t.Status, t.Attempt, t.WorkerID, t.Started, t.LeaseUntil = loom.StatusRunning, 1, e.cfg.WorkerID, &now, &lease
			claims++
		}
		inserts = append(inserts, t)
	}
	if len(inserts) > 0 {
		var err error
		if claims > 0 {
			err = e.insertClaimed(ctx, r, inserts)
		} else {
			err = e.insertChildren(ctx, r, inserts)
		}
		if err != nil {
			return err
		}
	}
	if plan.Done {
		if plan.Status == loom.StatusCompleted {
			return e.endFlow(ctx, parent, loom.StatusCompleted, r.state.Output().Clone(), "")
		}
		if waiting, err := e.compensate(ctx, r); err != nil || waiting {
			return err
		}
		byStep := make(map[string]*loom.TaskInfo, len(r.children))
		for name, c := range r.children {
			byStep[name] = c.info()
		}
		return e.endFlow(ctx, parent, loom.StatusFailed, nil, failedStepMsg(f.Order(), byStep))
	}
	// A step failed while others still run: stop them; the flow ends when
	// they have.
	if r.state.Halted() {
		return e.cancelChildren(ctx, r, "a sibling step failed")
	}
	return nil
}

// cancelChildren cancels r's children that have not ended and takes in
// what that changed.
func (e *Engine) cancelChildren(ctx context.Context, r *flowRun, reason string) error {
	now := e.clock.Now()
	var running []string
	for _, c := range r.children {
		if !c.status.Terminal() {
			running = append(running, c.id)
		}
	}
	changed := false
	for _, id := range running {
		ts, err := e.store.CancelTask(ctx, &store.CancelTaskParams{ID: id, Reason: reason, Now: now})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
		for _, t := range ts {
			changed = true
			e.inflight.cancelTask(t.ID, loom.ErrCancelled)
			e.waiters.ended(t)
			if t.ParentID == r.parent.ID {
				r.apply(t)
			} else if t.ParentID != "" {
				e.flows.pushEnded(t)
			}
		}
	}
	if changed {
		e.flows.push(r.parent.ID)
	}
	return nil
}

// compensate runs the Compensate tasks of a failed flow's completed
// steps, last completed first, one at a time, each as a child task named
// after its step with ".compensate". It reports whether one is still to
// run or running. Each is created once, so a crash between them runs
// none twice: the run loaded afresh finds those that exist.
func (e *Engine) compensate(ctx context.Context, r *flowRun) (waiting bool, err error) {
	for _, name := range r.state.Compensations() {
		c := r.children[name+compensateSuffix]
		if c != nil {
			if !c.status.Terminal() {
				return true, nil
			}
			continue
		}
		s, _ := r.flow.Step(name)
		err := e.insertChildren(ctx, r, []*loom.TaskInfo{{
			Type: s.Compensate.Name, Queue: r.parent.Queue, ParentID: r.parent.ID, Step: name + compensateSuffix,
			Input: r.state.CompensationInput(name), Priority: r.parent.Priority, Timeout: r.parent.Timeout,
			MaxAttempts: maxAttemptsOf(s.Compensate), Attributes: r.parent.Attributes,
		}})
		return true, err
	}
	return false, nil
}

// compensateSuffix ends the step name of a compensation's child task.
const compensateSuffix = ".compensate"

// stepAttempts is the attempt budget of a step's child task.
// A fan-out step has one: its items are retried, each by its own policy.
func (e *Engine) stepAttempts(s loom.Step) int {
	if s.FanOut != nil {
		return 1
	}
	return maxAttemptsOf(s.Task)
}

// stepType is the task type a step's child task runs.
func (e *Engine) stepType(f *loom.Flow, s loom.Step) string {
	if s.FanOut != nil {
		return flowStepType(f.Name(), s.Name)
	}
	return s.Task.Name
}

// failedStepMsg describes why a flow failed: the step that failed first
// (by when it ended, then in order), not the siblings cancelled because of
// it; a cancelled step only when none failed.
func failedStepMsg(order []string, byStep map[string]*loom.TaskInfo) string {
	var failed, cancelled *loom.TaskInfo
	for _, name := range order {
		c := byStep[name]
		switch {
		case c == nil:
		case c.Status == loom.StatusFailed:
			if failed == nil || endedBefore(c, failed) {
				failed = c
			}
		case c.Status == loom.StatusCancelled && cancelled == nil:
			cancelled = c
		}
	}
	c := failed
	if c == nil {
		c = cancelled
	}
	if c == nil {
		return ""
	}
	return fmt.Sprintf("step %q %s: %s", c.Step, c.Status, c.Msg)
}

// endedBefore reports whether a ended strictly before b; a step without
// an end time is not before any.
func endedBefore(a, b *loom.TaskInfo) bool {
	return a.Ended != nil && (b.Ended == nil || a.Ended.Before(*b.Ended))
}

// endFlow records the flow's end and tells its waiters and its own parent.
func (e *Engine) endFlow(ctx context.Context, parent *loom.TaskInfo, st loom.Status, out loom.Values, msg string) error {
	if out == nil && st == loom.StatusCompleted {
		out = loom.Values{}
	}
	e.runs.drop(parent.ID)
	res, err := e.store.FinishTasks(ctx, &store.FinishTasksParams{
		Outcomes: []store.Outcome{{ID: parent.ID, Attempt: parent.Attempt, Status: st, Output: out, Msg: msg}},
		Now:      e.clock.Now(),
	})
	if err != nil {
		return err
	}
	for _, r := range res {
		if r.Applied {
			e.ended(r.Task)
		}
	}
	return nil
}

// resumeFlows pushes every running flow, so an engine that starts on a
// store another engine left advances what was in progress.
func (e *Engine) resumeFlows(ctx context.Context) error {
	p := &store.ListTasksParams{Status: []loom.Status{loom.StatusRunning}, Limit: 1000}
	for {
		page, err := e.store.ListTasks(ctx, p)
		if err != nil {
			return fmt.Errorf("engine: resume flows: %w", err)
		}
		for _, t := range page.Tasks {
			if reg := e.lookup(t.Type); reg != nil && reg.advanced() {
				e.flows.push(t.ID)
			}
		}
		if page.Next == "" {
			return nil
		}
		p.Cursor = page.Next
	}
}

// retrySteps puts a flow's failed and cancelled steps back to pending,
// with inputs computed afresh from the flow's (possibly new) input and the
// saved outputs of its completed steps. Steps downstream of them that were
// never created are created by advance once the flow runs again.
func (e *Engine) retrySteps(ctx context.Context, parent *loom.TaskInfo, f *loom.Flow, input loom.Values) error {
	e.runs.drop(parent.ID)
	if input == nil {
		input = parent.Input
	}
	children, err := e.store.ListChildren(ctx, parent.ID)
	if err != nil {
		return err
	}
	done := make(map[string]loom.StepOutcome, len(children))
	for _, c := range children {
		if c.Step != "" {
			done[c.Step] = loom.StepOutcome{Status: c.Status, Output: c.Output}
		}
	}
	data := f.Data(input, done)
	for _, c := range children {
		if c.Status != loom.StatusFailed && c.Status != loom.StatusCancelled {
			continue
		}
		in, err := f.StepInput(c.Step, data)
		if err != nil {
			in = nil // keep the step's old input
		}
		if s, ok := f.Step(c.Step); ok && s.FanOut != nil {
			if err := e.retryItems(ctx, c.ID); err != nil {
				return err
			}
		}
		if _, err := e.store.RetryTask(ctx, &store.RetryTaskParams{ID: c.ID, Input: in, Now: e.clock.Now(), Actor: auth.Actor(ctx)}); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return nil
}

// retryItems puts a fan-out step's failed and cancelled items back to
// pending, so that retrying the step re-runs only them; items it never
// created are created when it runs again.
func (e *Engine) retryItems(ctx context.Context, id string) error {
	e.runs.drop(id)
	items, err := e.store.ListChildren(ctx, id)
	if err != nil {
		return err
	}
	for _, c := range items {
		if c.Status != loom.StatusFailed && c.Status != loom.StatusCancelled {
			continue
		}
		if _, err := e.store.RetryTask(ctx, &store.RetryTaskParams{ID: c.ID, Now: e.clock.Now(), Actor: auth.Actor(ctx)}); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return nil
}
