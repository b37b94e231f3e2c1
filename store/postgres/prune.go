package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
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
	where := []string{"parent_id IS NULL", "ended IS NOT NULL", "ended < $1"}
	args := []any{toNanos(p.EndedBefore), p.Limit}
	if p.Queue != "" {
		args = append(args, p.Queue)
		where = append(where, fmt.Sprintf("queue = $%d", len(args)))
	}
	if len(p.Except) > 0 {
		args = append(args, p.Except)
		where = append(where, fmt.Sprintf("NOT (queue = ANY($%d))", len(args)))
	}
	deleted := 0
	err := s.write(ctx, func(tx pgx.Tx) error {
		// The roots (locked, so that two servers pruning at once take
		// different ones), and every task under them; a root with a step
		// that has not ended stays, with all of its tree.
		var ids []string
		rows, err := tx.Query(ctx, `WITH RECURSIVE
				roots AS (SELECT id FROM tasks WHERE `+strings.Join(where, " AND ")+` ORDER BY ended LIMIT $2 FOR UPDATE SKIP LOCKED),
				tree(root, id) AS (
					SELECT id, id FROM roots
					UNION ALL
					SELECT tree.root, t.id FROM tasks t JOIN tree ON t.parent_id = tree.id
				)
			SELECT id FROM tree WHERE root NOT IN (
				SELECT tree.root FROM tree JOIN tasks t ON t.id = tree.id WHERE t.ended IS NULL
			)`, args...)
		if err != nil {
			return err
		}
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		for _, table := range []string{"task_events", "task_logs", "signals"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE task_id = ANY($1)`, ids); err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
		}
		tag, err := tx.Exec(ctx, `DELETE FROM tasks WHERE id = ANY($1)`, ids)
		if err != nil {
			return err
		}
		deleted = int(tag.RowsAffected())
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune tasks: %w", err)
	}
	return deleted, nil
}
