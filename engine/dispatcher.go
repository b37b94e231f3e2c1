package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/store"
)

// notify wakes the dispatcher without blocking; wakes coalesce.
func (e *Engine) notify() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// dispatch claims ready tasks in batches and publishes them to the bus
// (flow parents go to the flow advancer instead) until ctx is done. It sleeps when
// there is nothing to claim: until woken, until the next pending task's
// RunAt, or at most PollInterval.
func (e *Engine) dispatch(ctx context.Context) {
	queues := make([]string, len(e.cfg.Queues))
	for i, q := range e.cfg.Queues {
		queues[i] = q.Name
	}
	for {
		if ctx.Err() != nil {
			return
		}
		full := false
		for _, q := range e.cfg.Queues {
			free := e.maxLocal - e.inflight.len()
			if free <= 0 {
				break
			}
			n, err := e.claim(ctx, q, min(free, e.cfg.DispatchBatch))
			if err != nil {
				if ctx.Err() == nil {
					e.logger.Error("engine: claim tasks", "queue", q.Name, "err", err)
				}
				continue
			}
			if n == min(free, e.cfg.DispatchBatch) {
				full = true
			}
		}
		if full && e.inflight.len() < e.maxLocal {
			continue
		}
		wait := e.cfg.PollInterval
		if e.inflight.len() < e.maxLocal {
			at, ok, err := e.store.NextRunAt(ctx, queues)
			if err != nil && ctx.Err() == nil {
				e.logger.Error("engine: next run time", "err", err)
			}
			if d := at.Sub(e.clock.Now()); ok && d > 0 && d < wait {
				wait = d
			}
		}
		t := e.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-e.wake:
		case <-t.C():
		}
		t.Stop()
	}
}

// claim takes up to limit tasks of q and publishes them to the bus in one
// call, in the order the store gave them (priority first); it returns how
// many it took.
func (e *Engine) claim(ctx context.Context, q Queue, limit int) (int, error) {
	e.claimMu.Lock()
	defer e.claimMu.Unlock()
	now := e.clock.Now()
	observe := e.cfg.Metrics.StoreOp("ClaimTasks")
	tasks, err := e.store.ClaimTasks(ctx, &store.ClaimTasksParams{
		Queue:      q.Name,
		Limit:      limit,
		WorkerID:   e.cfg.WorkerID,
		Now:        now,
		LeaseUntil: now.Add(e.cfg.LeaseDuration),
		MaxRunning: q.Concurrency,
		// The bus message and the flow advancer need only the brief task.
		Brief: true,
	})
	observe(err)
	if err != nil {
		return 0, err
	}
	e.observeClaimed(tasks, now)
	msgs := make([]bus.Message, 0, len(tasks))
	var failed []*outcome
	for _, t := range tasks {
		reg := e.lookup(t.Type)
		switch {
		case reg == nil && !q.External:
			// A type this engine does not know: fail it rather than let it
			// bounce between engines until it expires.
			failed = append(failed, &outcome{id: t.ID, typ: t.Type, attempt: t.Attempt, maxAttempts: t.MaxAttempts,
				err: loom.Permanent(fmt.Errorf("%w %q", ErrUnknownType, t.Type))})
			continue
		case reg != nil && reg.flow != nil:
			e.startFlow(ctx, t)
			continue
		}
		m, err := e.message(t)
		if err != nil {
			failed = append(failed, &outcome{id: t.ID, typ: t.Type, attempt: t.Attempt, maxAttempts: t.MaxAttempts,
				err: loom.Permanent(err)})
			continue
		}
		a := &attempt{lease: store.Lease{ID: t.ID, Attempt: t.Attempt}, typ: t.Type,
			maxAttempts: t.MaxAttempts, local: !q.External, suspect: t.LeaseExpiries > 0}
		if a.local {
			a.ctx, a.cancel = context.WithCancelCause(e.attemptBase)
		}
		e.inflight.add(a)
		msgs = append(msgs, m)
	}
	if len(failed) > 0 {
		e.record(ctx, failed)
	}
	if len(msgs) > 0 {
		if err := e.bus.Publish(ctx, q.Name, msgs...); err != nil {
			// Nobody will run them: hand them back at once.
			e.logger.Error("engine: publish claimed tasks", "queue", q.Name, "n", len(msgs), "err", err)
			back := make([]*outcome, len(msgs))
			for i, m := range msgs {
				back[i] = &outcome{id: m.ID, typ: m.Type, attempt: m.Attempt, maxAttempts: m.MaxAttempts, released: true, unstarted: true}
			}
			e.record(context.WithoutCancel(ctx), back)
		}
	}
	return len(tasks), nil
}

// message is the ready bus message of a claimed attempt: the task object
// a worker needs, its lease holder in Lease.
func (e *Engine) message(t *loom.TaskInfo) (bus.Message, error) {
	m := bus.Message{
		ID: t.ID, Type: t.Type, Queue: t.Queue, Attempt: t.Attempt, Priority: t.Priority,
		Info: t.Info, Created: t.Created, Timeout: t.Timeout, MaxAttempts: t.MaxAttempts,
		Lease: e.cfg.WorkerID, TraceParent: t.TraceParent,
	}
	if len(t.Input) > 0 {
		b, err := json.Marshal(t.Input)
		if err != nil {
			return m, fmt.Errorf("input of task %s is not JSON: %w", t.ID, err)
		}
		m.Input = b
	}
	return m, nil
}
