package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/loomhq/loom"
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO queues (name, concurrency, paused) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency, paused = excluded.paused`,
			q.Name, q.Concurrency, q.Paused)
		return err
	})
	if err != nil {
		return fmt.Errorf("upsert queue %s: %w", q.Name, err)
	}
	return nil
}

// ListQueues returns every queue that has settings or tasks, by name, with
// its task counts by status. It reads the counts the writes keep in
// queue_counts, so it costs a few rows per queue however many tasks there
// are.
func (s *Store) ListQueues(ctx context.Context) ([]store.QueueInfo, error) {
	var out []store.QueueInfo
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = queryAll(ctx, tx, func(sc scanner) (store.QueueInfo, error) {
			var q store.QueueInfo
			err := sc.Scan(&q.Name, &q.Concurrency, &q.Paused, &q.Pending, &q.Running, &q.Completed, &q.Failed, &q.Cancelled)
			return q, err
		}, `
			SELECT n.name, coalesce(q.concurrency, 0), coalesce(q.paused, 0),
				coalesce(c.pending, 0), coalesce(c.running, 0), coalesce(c.completed, 0),
				coalesce(c.failed, 0), coalesce(c.cancelled, 0)
			FROM (SELECT name FROM queues UNION SELECT queue FROM queue_counts GROUP BY queue HAVING sum(n) > 0) n
			LEFT JOIN queues q ON q.name = n.name
			LEFT JOIN (
				SELECT queue,
					sum(CASE WHEN status = ? THEN n END) AS pending, sum(CASE WHEN status = ? THEN n END) AS running,
					sum(CASE WHEN status = ? THEN n END) AS completed, sum(CASE WHEN status = ? THEN n END) AS failed,
					sum(CASE WHEN status = ? THEN n END) AS cancelled
				FROM queue_counts GROUP BY queue
			) c ON c.queue = n.name
			ORDER BY n.name`,
			loom.StatusPending, loom.StatusRunning, loom.StatusCompleted, loom.StatusFailed, loom.StatusCancelled)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	return out, nil
}
