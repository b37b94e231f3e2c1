package engine

import (
	"context"

	"github.com/loomhq/loom/store"
)

// reap fails expired tasks and re-queues tasks whose lease lapsed, every
// ReapInterval while this engine leads (Config.Leads), until ctx is done.
func (e *Engine) reap(ctx context.Context) {
	for {
		t := e.clock.NewTimer(e.cfg.ReapInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		if e.cfg.Leads == nil || e.cfg.Leads() {
			e.reapOnce(ctx)
		}
	}
}

func (e *Engine) reapOnce(ctx context.Context) {
	for {
		if !e.reapBatch(ctx) {
			return
		}
	}
}

// reapBatch reaps up to 1000 tasks and reports whether there may be more.
// It holds claimMu, so that an attempt number a lapse gives back is not
// claimed again by this engine before it has forgotten the lapsed one.
func (e *Engine) reapBatch(ctx context.Context) bool {
	e.claimMu.Lock()
	defer e.claimMu.Unlock()
	res, err := e.store.ReapTasks(ctx, &store.ReapTasksParams{Now: e.clock.Now(), Limit: 1000, MaxLostRuns: e.cfg.MaxLeaseExpiries})
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
