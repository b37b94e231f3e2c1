package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/loomhq/loom/store"
)

// DefaultRetainInterval is how often the engine deletes tasks past their
// retention when Config.Retain or Config.RetainQueues asks it to.
const DefaultRetainInterval = time.Minute

// retain deletes ended tasks past their retention every RetainInterval,
// until ctx is done. It does nothing when no retention is set.
func (e *Engine) retain(ctx context.Context) {
	if e.cfg.Retain <= 0 && len(e.cfg.RetainQueues) == 0 {
		return
	}
	for {
		t := e.clock.NewTimer(e.cfg.RetainInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		if e.cfg.Leads != nil && !e.cfg.Leads() {
			continue // the leader prunes
		}
		if n, err := e.applyRetention(ctx); err != nil {
			if ctx.Err() == nil {
				e.logger.Error("engine: retention", "err", err)
			}
		} else if n > 0 {
			e.logger.Info("engine: retention deleted ended tasks", "tasks", n)
		}
	}
}

// applyRetention deletes what Config.Retain and Config.RetainQueues say
// is past keeping, and reports how many tasks it deleted.
func (e *Engine) applyRetention(ctx context.Context) (int, error) {
	now := e.clock.Now()
	total := 0
	queues := slices.Sorted(maps.Keys(e.cfg.RetainQueues))
	for _, q := range queues {
		d := e.cfg.RetainQueues[q]
		if d <= 0 {
			continue // kept for ever
		}
		n, err := e.Prune(ctx, &store.PruneTasksParams{EndedBefore: now.Add(-d), Queue: q})
		total += n
		if err != nil {
			return total, err
		}
	}
	if e.cfg.Retain > 0 {
		n, err := e.Prune(ctx, &store.PruneTasksParams{EndedBefore: now.Add(-e.cfg.Retain), Except: queues})
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Prune deletes the ended top-level tasks p chooses, with their steps,
// logs and events, in batches of p.Limit (each its own short transaction,
// so that submits never wait long), until none is left; it reports how
// many tasks it deleted. A flow is deleted only once it and all its steps
// have ended.
func (e *Engine) Prune(ctx context.Context, p *store.PruneTasksParams) (int, error) {
	if p == nil {
		return 0, fmt.Errorf("engine: prune: %w: no parameters", ErrInvalid)
	}
	q := *p
	if err := q.Validate(); err != nil {
		return 0, fmt.Errorf("engine: %w", err)
	}
	n, err := store.PruneAll(ctx, e.store, q)
	if err != nil {
		return n, fmt.Errorf("engine: %w", err)
	}
	return n, nil
}
