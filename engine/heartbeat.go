package engine

import (
	"context"

	"github.com/loomhq/loom/store"
)

// heartbeat extends the leases of the attempts this engine holds every
// HeartbeatInterval, and stops those whose lease was not extended (the
// task was cancelled, reaped or finished elsewhere).
func (e *Engine) heartbeat(ctx context.Context) {
	for {
		t := e.clock.NewTimer(e.cfg.HeartbeatInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		e.extendLeases(ctx)
		if err := e.upsertWorker(ctx); err != nil && ctx.Err() == nil {
			e.logger.Warn("engine: worker heartbeat", "err", err)
		}
	}
}

func (e *Engine) extendLeases(ctx context.Context) {
	leases := e.inflight.leases()
	if len(leases) == 0 {
		return
	}
	res, err := e.store.ExtendLeases(ctx, &store.ExtendLeasesParams{
		Leases:     leases,
		LeaseUntil: e.clock.Now().Add(e.cfg.LeaseDuration),
	})
	if err != nil {
		if ctx.Err() == nil {
			e.logger.Error("engine: extend leases", "n", len(leases), "err", err)
		}
		return
	}
	for _, r := range res {
		if !r.Extended {
			e.inflight.cancelLease(r.Lease, errLeaseLost)
		}
	}
}
