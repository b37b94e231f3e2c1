package engine

import (
	"context"
	"time"

	"github.com/loomhq/loom/store"
)

// heartbeat extends the leases of the attempts this engine holds every
// HeartbeatInterval, and stops those whose lease was not extended (the
// task was cancelled, reaped or finished elsewhere). The engine holds the
// lease of every attempt it published, wherever it runs, while the worker
// running it extends its bus delivery (Worker.keepAlive): together they
// keep a live attempt from starting a second time. A worker that vanishes
// stops extending, and the bus hands its task to another worker after the
// AckWait; an engine that vanishes stops extending, and the reaper of
// another engine re-queues its tasks. Both count real time, whatever the
// engine's Clock: a lease says whether a process is alive, and a test's
// fake clock skipping a day must not make a live engine look dead.
func (e *Engine) heartbeat(ctx context.Context) {
	for {
		t := time.NewTimer(e.cfg.HeartbeatInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		e.extendLeases(ctx)
		e.markStarted(ctx, e.inflight.unmarked())
		if err := e.upsertWorker(ctx); err != nil && ctx.Err() == nil {
			e.logger.Warn("engine: worker heartbeat", "err", err)
		}
		if !e.ownBus {
			e.learnFromStore(ctx)
		}
	}
}

func (e *Engine) extendLeases(ctx context.Context) {
	leases := e.inflight.leases()
	if len(leases) == 0 {
		return
	}
	observe := e.cfg.Metrics.StoreOp("ExtendLeases")
	res, err := e.store.ExtendLeases(ctx, &store.ExtendLeasesParams{
		Leases:     leases,
		LeaseUntil: leaseUntil(e.cfg.LeaseDuration),
		WorkerID:   e.cfg.WorkerID,
	})
	observe(err)
	if err != nil {
		if ctx.Err() == nil {
			e.logger.Error("engine: extend leases", "n", len(leases), "err", err)
		}
		return
	}
	for _, r := range res {
		if r.Extended {
			continue
		}
		// Our worker stops; a result from a worker elsewhere would not be
		// recorded, so the attempt is no longer ours to keep.
		e.inflight.lose(r.Lease)
	}
}

// markStarted tells the store that the handlers of as started, so that a
// lease of theirs that lapses counts as a lost run rather than as a claim
// that never ran. Most attempts are told of at the next heartbeat, at no
// cost to the claim path; an attempt of a task whose lease expired before
// is told of before its handler runs (from attemptContext), since a
// handler that kills its process at once would otherwise never be
// counted. An attempt whose lease is gone is stopped.
func (e *Engine) markStarted(ctx context.Context, as []*attempt) {
	if len(as) == 0 {
		return
	}
	leases := make([]store.Lease, len(as))
	for i, a := range as {
		leases[i] = a.lease
	}
	res, err := e.store.MarkStarted(ctx, &store.MarkStartedParams{Leases: leases, WorkerID: e.cfg.WorkerID})
	if err != nil {
		if ctx.Err() == nil {
			e.logger.Error("engine: mark attempts started", "n", len(leases), "err", err)
		}
		return
	}
	for i, r := range res {
		if r.Extended {
			as[i].marked.Store(true)
		} else {
			e.inflight.lose(r.Lease)
		}
	}
}

// leaseUntil is when a lease taken or extended now for d lapses: leases
// count real time (see heartbeat and store.ReapTasksParams.LeaseNow).
func leaseUntil(d time.Duration) time.Time { return time.Now().Add(d) }
