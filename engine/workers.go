package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/loomhq/loom/store"
)

// Workers returns the workers whose last heartbeat is at or after
// seenSince, as the store knows them: every engine sharing the store, and
// remote workers that register themselves.
func (e *Engine) Workers(ctx context.Context, seenSince time.Time) ([]store.WorkerInfo, error) {
	ws, err := e.store.ListWorkers(ctx, seenSince)
	if err != nil {
		return nil, fmt.Errorf("engine: workers: %w", err)
	}
	return ws, nil
}

// WorkerTimeout is how long after its last heartbeat a worker still
// counts as alive: one lease, since a worker that has not heart-beaten for
// that long has lost its tasks to the reaper.
func (e *Engine) WorkerTimeout() time.Duration { return e.cfg.LeaseDuration }
