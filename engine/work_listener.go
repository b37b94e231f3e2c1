package engine

import (
	"context"
	"slices"

	"github.com/loomhq/loom/store"
)

// listenForWork wakes the dispatcher when the store announces work in one
// of the engine's queues, for stores that other processes write to as
// well (store.WorkListener); it returns when ctx is done. Without it a
// task submitted through another process would wait for the next poll.
func (e *Engine) listenForWork(ctx context.Context, l store.WorkListener) {
	var queues []string
	for _, q := range slices.Concat(e.cfg.Queues, e.cfg.PullQueues) {
		queues = append(queues, q.Name)
	}
	if err := l.ListenForWork(ctx, queues, e.notify); err != nil && ctx.Err() == nil {
		e.logger.Error("engine: listen for work", "err", err)
	}
}
