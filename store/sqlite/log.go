package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

const insertLogSQL = `INSERT INTO task_logs (task_id, attempt, time, stream, data) VALUES (?, ?, ?, ?, ?)`

// AppendLogs appends chunks in one transaction. The Store numbers them:
// each chunk's Seq is ignored and assigned, increasing across all tasks. A
// zero Time means now. A chunk of a task that does not exist is
// ErrNotFound, and nothing is appended.
func (s *Store) AppendLogs(ctx context.Context, chunks []store.LogChunk) error {
	if len(chunks) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		st, err := s.wstmt(ctx, tx, insertLogSQL)
		if err != nil {
			return err
		}
		for _, c := range chunks {
			if !loom.ValidLogStream(c.Stream) {
				return fmt.Errorf("task %s: unknown log stream %q: %w", c.TaskID, c.Stream, store.ErrInvalid)
			}
			if _, err := st.ExecContext(ctx, c.TaskID, c.Attempt, toNanos(now(c.Time)), store.LogStream(c.Stream), c.Data); err != nil {
				if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY) {
					return fmt.Errorf("task %s: %w", c.TaskID, store.ErrNotFound)
				}
				return fmt.Errorf("task %s: %w", c.TaskID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append %d log chunks: %w", len(chunks), err)
	}
	return nil
}

// GetLogs returns a task's log chunks in order; see store.Store. Limit
// zero means no limit. A task that does not exist is ErrNotFound.
func (s *Store) GetLogs(ctx context.Context, p *store.GetLogsParams) ([]store.LogChunk, error) {
	q := `SELECT seq, attempt, time, stream, data FROM task_logs WHERE task_id = ? AND seq > ?`
	args := []any{p.TaskID, p.AfterSeq}
	if p.Attempt > 0 {
		q += ` AND attempt = ?`
		args = append(args, p.Attempt)
	}
	q += ` ORDER BY seq`
	if p.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, p.Limit)
	}
	var out []store.LogChunk
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = queryAll(ctx, tx, func(sc scanner) (store.LogChunk, error) {
			c := store.LogChunk{TaskID: p.TaskID}
			var tm int64
			err := sc.Scan(&c.Seq, &c.Attempt, &tm, &c.Stream, &c.Data)
			c.Time = fromNanos(tm)
			return c, err
		}, q, args...)
		if err != nil {
			return err
		}
		if len(out) == 0 {
			return s.taskExists(ctx, tx, p.TaskID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get logs of task %s attempt %d: %w", p.TaskID, p.Attempt, err)
	}
	return out, nil
}
