package engine

import (
	"context"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// reap fails expired tasks and re-queues tasks whose lease lapsed while
// this engine leads (Config.Leads), until ctx is done. Leases lapse in
// real time (they say whether a process is alive), so it looks every
// ReapInterval of real time; tasks expire on the engine's Clock, so it
// also wakes at the next task Timeout on that clock. A test's fake clock
// then skips straight to the next expiry rather than crawling through
// ReapInterval ticks.
func (e *Engine) reap(ctx context.Context) {
	var last time.Time // the clock time of the last reap
	// pass holds the clock from a wake until the next wait has its timer
	// (see dispatch).
	pass := func() {}
	defer func() { pass() }()
	for {
		poll := time.NewTimer(e.cfg.ReapInterval)
		var due <-chan time.Time
		var dueTimer loom.Timer
		// The timer holds the clock from its firing until the reap is
		// done (see loom.Holder).
		dueRelease := func() {}
		at, ok, err := e.store.NextTimeout(ctx)
		if err != nil && ctx.Err() == nil {
			e.logger.Error("engine: next task timeout", "err", err)
		}
		// A timeout the last reap did not clear (a store error) waits for
		// the poll rather than spinning.
		if ok && err == nil && at.After(last) {
			dueTimer, dueRelease = loom.NewHeldTimer(e.clock, at.Sub(e.clock.Now()))
			due = dueTimer.C()
		}
		pass()
		select {
		case <-ctx.Done():
		case <-poll.C:
		case <-due:
		}
		pass = loom.Hold(e.clock)
		poll.Stop()
		if dueTimer != nil {
			dueTimer.Stop()
		}
		if ctx.Err() != nil {
			dueRelease()
			return
		}
		if e.cfg.Leads == nil || e.cfg.Leads() {
			last = e.reapOnce(ctx)
		} else {
			// Another engine reaps: a timeout due now is its to clear, and
			// waits for the poll here rather than spinning.
			last = e.clock.Now()
		}
		dueRelease()
	}
}

// reapOnce reaps until nothing is left to reap, holding the clock (see
// loom.Holder), and returns the clock time it reaped at.
func (e *Engine) reapOnce(ctx context.Context) time.Time {
	defer loom.Hold(e.clock)()
	now := e.clock.Now()
	for {
		if !e.reapBatch(ctx, now) {
			return now
		}
	}
}

// reapBatch reaps up to 1000 tasks and reports whether there may be more.
// It holds claimMu, so that an attempt number a lapse gives back is not
// claimed again by this engine before it has forgotten the lapsed one.
func (e *Engine) reapBatch(ctx context.Context, now time.Time) bool {
	e.claimMu.Lock()
	defer e.claimMu.Unlock()
	observe := e.cfg.Metrics.StoreOp("ReapTasks")
	res, err := e.store.ReapTasks(ctx, &store.ReapTasksParams{Now: now, LeaseNow: time.Now(), Limit: 1000, MaxLostRuns: e.cfg.MaxLeaseExpiries})
	observe(err)
	if err != nil {
		if ctx.Err() == nil {
			e.logger.Error("engine: reap tasks", "err", err)
		}
		return false
	}
	for _, t := range res.Expired {
		e.inflight.cancelTask(t.ID, errExpired)
		e.ended(t)
	}
	e.cfg.Metrics.Reaped(len(res.Lapsed))
	for _, l := range res.Lapsed {
		// Our own attempt, if it still runs, lost its lease.
		e.inflight.lose(l)
	}
	for _, t := range res.Lost {
		e.ended(t)
	}
	if len(res.Requeued) > 0 {
		e.notify()
	}
	return len(res.Expired)+len(res.Lapsed) >= 1000
}
