package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// PruneTasks implements store.Store.
func (s *Store) PruneTasks(ctx context.Context, p *store.PruneTasksParams) (int, error) {
	if p == nil {
		p = &store.PruneTasksParams{}
	}
	if err := p.Validate(); err != nil {
		return 0, err
	}
	where := []string{"parent_id IS NULL", "ended IS NOT NULL", "ended < ?"}
	args := []any{toNanos(p.EndedBefore)}
	if p.Queue != "" {
		where = append(where, "queue = ?")
		args = append(args, p.Queue)
	}
	if len(p.Except) > 0 {
		where = append(where, "queue NOT IN (?"+strings.Repeat(", ?", len(p.Except)-1)+")")
		for _, q := range p.Except {
			args = append(args, q)
		}
	}
	args = append(args, p.Limit)
	deleted := 0
	err := s.write(ctx, func(tx *sql.Tx) error {
		// The roots, and every task under them; a root with a step that
		// has not ended stays, with all of its tree.
		if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE IF NOT EXISTS prune_ids (id TEXT PRIMARY KEY) WITHOUT ROWID`); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM prune_ids`); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `WITH RECURSIVE
				roots(id) AS (SELECT id FROM tasks WHERE `+strings.Join(where, " AND ")+` ORDER BY ended LIMIT ?),
				tree(root, id) AS (
					SELECT id, id FROM roots
					UNION ALL
					SELECT tree.root, t.id FROM tasks t JOIN tree ON t.parent_id = tree.id
				)
			INSERT INTO prune_ids (id)
			SELECT id FROM tree WHERE root NOT IN (
				SELECT tree.root FROM tree JOIN tasks t ON t.id = tree.id WHERE t.ended IS NULL
			)`, args...); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT queue, status, count(*) FROM tasks
			WHERE id IN (SELECT id FROM prune_ids) GROUP BY queue, status`)
		if err != nil {
			return err
		}
		counts := countDelta{}
		for rows.Next() {
			var (
				queue, status string
				n             int
			)
			if err := rows.Scan(&queue, &status, &n); err != nil {
				rows.Close()
				return err
			}
			counts.add(queue, loom.Status(status), -n)
			deleted += n
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, table := range []string{"task_events", "task_logs", "signals"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE task_id IN (SELECT id FROM prune_ids)`); err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM tasks WHERE id IN (SELECT id FROM prune_ids)`); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM prune_ids`); err != nil {
			return err
		}
		return s.applyCounts(ctx, tx, counts)
	})
	if err != nil {
		return 0, fmt.Errorf("prune tasks: %w", err)
	}
	return deleted, nil
}
