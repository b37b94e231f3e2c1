package engine

import (
	"context"

	"github.com/loomhq/loom/store"
)

// reap fails expired tasks and re-queues tasks whose lease lapsed, every
// ReapInterval, until ctx is done.
func (e *Engine) reap(ctx context.Context) {
	for {
		t := e.clock.NewTimer(e.cfg.ReapInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		e.reapOnce(ctx)
	}
}

func (e *Engine) reapOnce(ctx context.Context) {
	for {
		res, err := e.store.ReapTasks(ctx, &store.ReapTasksParams{Now: e.clock.Now(), Limit: 1000})
		if err != nil {
			if ctx.Err() == nil {
				e.logger.Error("engine: reap tasks", "err", err)
			}
			return
		}
		for _, t := range res.Expired {
			e.inflight.cancelTask(t.ID, errExpired)
			e.ended(t)
		}
		for _, t := range res.Requeued {
			// Our own attempt, if it still runs, lost its lease.
			e.inflight.cancelLease(store.Lease{ID: t.ID, Attempt: t.Attempt}, errLeaseLost)
		}
		if len(res.Requeued) > 0 {
			e.notify()
		}
		if len(res.Expired)+len(res.Requeued) < 1000 {
			return
		}
	}
}
