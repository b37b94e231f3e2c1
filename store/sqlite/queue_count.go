package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sort"

	"github.com/loomhq/loom"
)

// countKey names one counter of the queue_counts table.
type countKey struct {
	queue  string
	status loom.Status
}

// countDelta is how a transaction changes the queue_counts table: the
// number of tasks it adds to (or, negative, takes from) each queue and
// status. Every transaction that inserts a task or changes its status
// applies one, so that ListQueues reads the counts instead of every task.
type countDelta map[countKey]int

// add counts n more tasks of queue in status.
func (d countDelta) add(queue string, status loom.Status, n int) {
	d[countKey{queue, status}] += n
}

// move counts n tasks of queue that went from one status to another.
func (d countDelta) move(queue string, from, to loom.Status, n int) {
	if from == to {
		return
	}
	d.add(queue, from, -n)
	d.add(queue, to, n)
}

const upsertCountSQL = `INSERT INTO queue_counts (queue, status, n) VALUES (?, ?, ?)
	ON CONFLICT (queue, status) DO UPDATE SET n = n + excluded.n`

// applyCounts writes d in tx. A batch touches few counters (a claim two),
// so it costs a few statements however many tasks it changed.
func (s *Store) applyCounts(ctx context.Context, tx *sql.Tx, d countDelta) error {
	keys := make([]countKey, 0, len(d))
	for k, n := range d {
		if n != 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	// In a fixed order, so that a transaction's writes are repeatable.
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].queue != keys[j].queue {
			return keys[i].queue < keys[j].queue
		}
		return keys[i].status < keys[j].status
	})
	st, err := s.wstmt(ctx, tx, upsertCountSQL)
	if err != nil {
		return fmt.Errorf("queue counts: %w", err)
	}
	for _, k := range keys {
		if _, err := st.ExecContext(ctx, k.queue, string(k.status), d[k]); err != nil {
			return fmt.Errorf("queue counts of %s %s: %w", k.queue, k.status, err)
		}
	}
	return nil
}
