package postgres

import (
	"context"
	"fmt"

	"github.com/loomhq/loom/store"
)

// UpsertQueue creates or changes a queue's settings. ClaimTasks honours
// them: a paused queue starts nothing, and Concurrency caps its running
// tasks.
func (s *Store) UpsertQueue(ctx context.Context, q store.QueueConfig) error {
	if q.Name == "" {
		return fmt.Errorf("upsert queue: empty name: %w", store.ErrInvalid)
	}
	if q.Concurrency < 0 {
		return fmt.Errorf("upsert queue %s: concurrency %d: %w", q.Name, q.Concurrency, store.ErrInvalid)
	}
	_, err := s.db().Exec(ctx, `INSERT INTO queues (name, concurrency, paused) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency, paused = excluded.paused`,
		q.Name, q.Concurrency, q.Paused)
	if err != nil {
		return fmt.Errorf("upsert queue %s: %w", q.Name, err)
	}
	return nil
}

// ListQueues returns every queue that has settings or tasks, by name, with
// its task counts by status. The counts come from queue_counts, which
// triggers on tasks keep in the transaction of every write: reading them
// costs a few rows per queue however many tasks there are.
func (s *Store) ListQueues(ctx context.Context) ([]store.QueueInfo, error) {
	out, err := queryAll(ctx, s.db(), func(sc scanner) (store.QueueInfo, error) {
		var q store.QueueInfo
		err := sc.Scan(&q.Name, &q.Concurrency, &q.Paused, &q.Pending, &q.Running, &q.Completed, &q.Failed, &q.Cancelled)
		return q, err
	}, `
		WITH c AS (
			SELECT queue,
				sum(n) FILTER (WHERE status = 'pending')::bigint AS pending,
				sum(n) FILTER (WHERE status = 'running')::bigint AS running,
				sum(n) FILTER (WHERE status = 'completed')::bigint AS completed,
				sum(n) FILTER (WHERE status = 'failed')::bigint AS failed,
				sum(n) FILTER (WHERE status = 'cancelled')::bigint AS cancelled
			FROM queue_counts GROUP BY queue HAVING sum(n) > 0
		)
		SELECT coalesce(q.name, c.queue), coalesce(q.concurrency, 0), coalesce(q.paused, false),
			coalesce(c.pending, 0), coalesce(c.running, 0), coalesce(c.completed, 0),
			coalesce(c.failed, 0), coalesce(c.cancelled, 0)
		FROM queues q FULL JOIN c ON c.queue = q.name
		ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	return out, nil
}
