package engine

import (
	"context"
	"fmt"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// notify wakes the dispatcher without blocking; wakes coalesce.
func (e *Engine) notify() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// dispatch claims ready tasks in batches and hands them to the workers
// (flow parents to the flow advancer) until ctx is done. It sleeps when
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

// claim takes up to limit tasks of q and hands them out; it returns how
// many it took.
func (e *Engine) claim(ctx context.Context, q Queue, limit int) (int, error) {
	now := e.clock.Now()
	tasks, err := e.store.ClaimTasks(ctx, &store.ClaimTasksParams{
		Queue:      q.Name,
		Limit:      limit,
		WorkerID:   e.cfg.WorkerID,
		Now:        now,
		LeaseUntil: now.Add(e.cfg.LeaseDuration),
		MaxRunning: q.Concurrency,
	})
	if err != nil {
		return 0, err
	}
	for _, t := range tasks {
		reg := e.lookup(t.Type)
		switch {
		case reg == nil:
			// A type this engine does not know: fail it rather than let it
			// bounce between engines until it expires.
			e.done <- &outcome{id: t.ID, typ: t.Type, attempt: t.Attempt, maxAttempts: t.MaxAttempts,
				started: now, ended: now, err: loom.Permanent(fmt.Errorf("%w %q", ErrUnknownType, t.Type))}
		case reg.flow != nil:
			e.startFlow(ctx, t)
		default:
			actx, cancel := context.WithCancelCause(context.Background())
			a := &attempt{task: t, reg: reg, ctx: actx, cancel: cancel}
			e.inflight.add(a)
			e.ready <- a
		}
	}
	return len(tasks), nil
}
