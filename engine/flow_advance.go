package engine

import (
	"context"
	"errors"
	"fmt"

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

// flowStepType is the task type of a fan-out step of a flow: one task that
// maps the step's task over the list, in-process, through the library.
func flowStepType(flow, step string) string { return flow + "/" + step }

// registerSteps registers the tasks a flow's steps run.
func (e *Engine) registerSteps(f *loom.Flow, opts []RegisterOption) error {
	for _, name := range f.Order() {
		s, _ := f.Step(name)
		if s.FanOut == nil {
			if err := e.Register(s.Task, opts...); err != nil {
				return fmt.Errorf("flow %q step %q: %w", f.Name(), name, err)
			}
			continue
		}
		// The fan-out runs as one task: a one-step flow of the library
		// whose input is the step's input.
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
			e.types[one.Name] = &registration{task: &loom.Task{Name: one.Name, Handler: h, Retry: s.Task.Retry, Timeout: s.Task.Timeout}}
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
		Leases:     []store.Lease{{ID: t.ID, Attempt: t.Attempt}},
		LeaseUntil: t.Timeout,
	})
	if err != nil {
		e.logger.Error("engine: extend flow lease", "task", t.ID, "err", err)
	}
	e.flows.push(t.ID)
}

// advanceFlows advances the flows pushed on e.flows until ctx is done.
func (e *Engine) advanceFlows(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.flows.signal:
		}
		for _, id := range e.flows.take() {
			if err := e.advance(ctx, id); err != nil && ctx.Err() == nil {
				e.logger.Error("engine: advance flow", "task", id, "err", err)
			}
		}
	}
}

// advance creates the flow's ready steps, records skipped ones, and ends
// the flow once its steps have.
func (e *Engine) advance(ctx context.Context, id string) error {
	parent, err := e.store.GetTask(ctx, id)
	if err != nil {
		return err
	}
	if parent.Status != loom.StatusRunning {
		return nil
	}
	reg := e.lookup(parent.Type)
	if reg == nil || reg.flow == nil {
		return nil
	}
	f := reg.flow
	children, err := e.store.ListChildren(ctx, id)
	if err != nil {
		return err
	}
	done := make(map[string]loom.StepOutcome, len(children))
	byStep := make(map[string]*loom.TaskInfo, len(children))
	for _, c := range children {
		if c.Step == "" {
			continue
		}
		done[c.Step] = loom.StepOutcome{Status: c.Status, Output: c.Output}
		byStep[c.Step] = c
	}
	plan := f.Ready(parent.Input, done)
	now := e.clock.Now()
	var inserts []*loom.TaskInfo
	for _, sk := range plan.Skip {
		s, _ := f.Step(sk.Name)
		ended := now
		inserts = append(inserts, &loom.TaskInfo{
			Type: e.stepType(f, s), Queue: parent.Queue, ParentID: id, Step: sk.Name,
			Status: loom.StatusSkipped, Result: loom.ResultComplete, Msg: "skipped: " + sk.Reason,
			Started: &ended, Ended: &ended, Timeout: parent.Timeout, MaxAttempts: 1,
		})
		done[sk.Name] = loom.StepOutcome{Status: loom.StatusSkipped}
	}
	if len(plan.Run) > 0 {
		data := f.Data(parent.Input, done)
		for _, name := range plan.Run {
			s, _ := f.Step(name)
			in, err := f.StepInput(name, data)
			if err != nil {
				return e.endFlow(ctx, parent, loom.StatusFailed, nil, err.Error())
			}
			inserts = append(inserts, &loom.TaskInfo{
				Type: e.stepType(f, s), Queue: parent.Queue, ParentID: id, Step: name,
				Input: in, Priority: parent.Priority, Timeout: parent.Timeout,
				MaxAttempts: maxAttemptsOf(s.Task), Attributes: parent.Attributes,
				TraceParent: parent.TraceParent,
			})
		}
	}
	if len(inserts) > 0 {
		if _, err := e.insertTasks(ctx, &store.InsertTasksParams{Tasks: inserts, Now: now}); err != nil {
			return err
		}
		e.notify()
		if len(plan.Run) == 0 {
			// Only skips: decide again with them recorded.
			e.flows.push(id)
		}
		return nil
	}
	if plan.Done {
		if plan.Status == loom.StatusCompleted {
			return e.endFlow(ctx, parent, loom.StatusCompleted, f.Data(nil, done), "")
		}
		return e.endFlow(ctx, parent, loom.StatusFailed, nil, failedStepMsg(f.Order(), byStep))
	}
	// A step failed while others still run: stop them; the flow ends when
	// they have.
	if len(plan.Cancel) > 0 || failedStepMsg(f.Order(), byStep) != "" {
		cancelled := false
		for _, c := range children {
			if c.Status.Terminal() {
				continue
			}
			ts, err := e.store.CancelTask(ctx, &store.CancelTaskParams{ID: c.ID, Reason: "a sibling step failed", Now: now})
			if err != nil && !errors.Is(err, store.ErrConflict) {
				return err
			}
			for _, t := range ts {
				e.inflight.cancelTask(t.ID, loom.ErrCancelled)
				e.waiters.ended(t)
			}
			cancelled = true
		}
		if cancelled {
			e.flows.push(id)
		}
	}
	return nil
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
			if reg := e.lookup(t.Type); reg != nil && reg.flow != nil {
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
		if _, err := e.store.RetryTask(ctx, &store.RetryTaskParams{ID: c.ID, Input: in, Now: e.clock.Now(), Actor: auth.Actor(ctx)}); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return nil
}
