package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/store"
)

// notify wakes the dispatcher, and the claims of pull workers, without
// blocking; wakes coalesce. On a clock that moves by itself (loom.Holder)
// a wake holds the clock until the dispatcher has looked for work, so that
// a fake clock does not skip past the work the wake announced.
func (e *Engine) notify() {
	e.feed.nudge()
	if e.holder != nil {
		e.wakeMu.Lock()
		if e.wakeHold == nil {
			e.wakeHold = e.holder.Hold()
		}
		e.wakeMu.Unlock()
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
	e.wakePullers()
}

// takeWakeHold returns the release of the hold the last wake took (a no-op
// when none is out); the dispatcher calls it once it has acted on the wake.
func (e *Engine) takeWakeHold() func() {
	if e.holder == nil {
		return func() {}
	}
	e.wakeMu.Lock()
	defer e.wakeMu.Unlock()
	release := e.wakeHold
	e.wakeHold = nil
	if release == nil {
		return func() {}
	}
	return release
}

// dispatch claims ready tasks in batches and publishes them to the bus
// (flow parents go to the flow advancer instead) until ctx is done. It sleeps when
// there is nothing to claim: until woken, until the next pending task's
// RunAt on the engine's clock, or PollInterval of real time (a task
// another process made ready). On a fake clock it therefore sleeps
// straight to the next retry or delayed start.
func (e *Engine) dispatch(ctx context.Context) {
	defer func() { e.takeWakeHold()() }()
	// pass holds the clock from one wake through the pass it starts, until
	// the next wait has its timer: a fake clock must not skip ahead while
	// the timer of the next due task is being replaced.
	pass := func() {}
	defer func() { pass() }()
	for {
		if ctx.Err() != nil {
			return
		}
		e.passing.Store(true)
		wakeRelease, passRelease := e.takeWakeHold(), pass
		release := func() { wakeRelease(); passRelease() }
		pass = func() {}
		full := false
		qs := e.queueList()
		for _, q := range qs {
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
			release()
			continue
		}
		var due <-chan time.Time
		var dueTimer loom.Timer
		dueRelease := func() {}
		if e.inflight.len() < e.maxLocal {
			queues := make([]string, len(qs))
			for i, q := range qs {
				queues[i] = q.Name
			}
			at, ok, err := e.store.NextRunAt(ctx, queues)
			if err != nil && ctx.Err() == nil {
				e.logger.Error("engine: next run time", "err", err)
			}
			// Due tasks the claims left (a capped or paused queue) may be
			// claimable once a running one ends; until then they wait for
			// a wake or the poll, not a spin.
			e.held.Store(ok && !at.After(e.clock.Now()))
			if d := at.Sub(e.clock.Now()); ok && d > 0 {
				// Held from its firing until the wake below holds the
				// clock for the claim.
				dueTimer, dueRelease = loom.NewHeldTimer(e.clock, d)
				due = dueTimer.C()
			}
		}
		poll := time.NewTimer(e.cfg.PollInterval)
		e.passing.Store(false)
		release()
		select {
		case <-ctx.Done():
		case <-e.wake:
		case <-due:
			// Woken by the clock: hold it while claiming what fell due.
			e.notify()
		case <-poll.C:
		}
		pass = loom.Hold(e.clock)
		poll.Stop()
		if dueTimer != nil {
			dueTimer.Stop()
		}
		dueRelease()
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
		LeaseUntil: leaseUntil(e.cfg.LeaseDuration),
		MaxRunning: q.Concurrency,
		// The bus message and the flow advancer need only the brief task.
		Brief: true,
	})
	observe(err)
	if err != nil {
		return 0, err
	}
	if len(tasks) > 0 {
		e.feed.nudge()
	}
	e.observeClaimed(tasks, now)
	e.handOut(ctx, q, tasks)
	return len(tasks), nil
}

// handOut gives the attempts of q this engine claimed to what runs them:
// flows to the flow advancer, the others to the bus in one publish
// (failing those it cannot run).
func (e *Engine) handOut(ctx context.Context, q Queue, tasks []*loom.TaskInfo) {
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
		case reg != nil && reg.advanced():
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
			maxAttempts: t.MaxAttempts, retry: t.Retry, local: !q.External, suspect: t.LeaseExpiries > 0}
		if a.local {
			a.ctx, a.cancel = context.WithCancelCause(e.attemptBase)
			if e.holder != nil {
				a.ctx, a.hold = loom.HoldClock(a.ctx, e.holder)
			}
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
}

// queueOf returns the queue named name that this engine serves.
func (e *Engine) queueOf(name string) (Queue, bool) {
	for _, q := range e.cfg.Queues {
		if q.Name == name {
			return q, true
		}
	}
	return Queue{}, false
}

// message is the ready bus message of a claimed attempt: the task object
// a worker needs, its lease holder in Lease.
func (e *Engine) message(t *loom.TaskInfo) (bus.Message, error) {
	return ReadyMessage(t, e.cfg.WorkerID)
}
