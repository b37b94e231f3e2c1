package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// AppendLogs appends chunks with one statement. The Store numbers them:
// each chunk's Seq is ignored and assigned, increasing across all tasks. A
// zero Time means now. A chunk of a task that does not exist is
// ErrNotFound, and nothing is appended.
func (s *Store) AppendLogs(ctx context.Context, chunks []store.LogChunk) error {
	if len(chunks) == 0 {
		return nil
	}
	var (
		ids, data = make([]string, len(chunks)), make([]string, len(chunks))
		streams   = make([]string, len(chunks))
		attempts  = make([]int32, len(chunks))
		times     = make([]int64, len(chunks))
	)
	for i, c := range chunks {
		if !loom.ValidLogStream(c.Stream) {
			return fmt.Errorf("append %d log chunks: task %s: unknown log stream %q: %w", len(chunks), c.TaskID, c.Stream, store.ErrInvalid)
		}
		ids[i], attempts[i], times[i], data[i] = c.TaskID, int32(c.Attempt), toNanos(now(c.Time)), c.Data
		streams[i] = store.LogStream(c.Stream)
	}
	_, err := s.db().Exec(ctx, `INSERT INTO task_logs (task_id, attempt, time, data, stream)
		SELECT task_id, attempt, time, data, stream
		FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::text[]) WITH ORDINALITY AS v(task_id, attempt, time, data, stream, ord)
		ORDER BY ord`, ids, attempts, times, data, streams)
	if isCode(err, codeForeignKeyViolation) {
		var pe *pgconn.PgError
		errors.As(err, &pe)
		return fmt.Errorf("append %d log chunks: a task does not exist (%s): %w", len(chunks), pe.Detail, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("append %d log chunks: %w", len(chunks), err)
	}
	return nil
}

// GetLogs returns a task's log chunks in order; see store.Store. Limit
// zero means no limit. A task that does not exist is ErrNotFound.
func (s *Store) GetLogs(ctx context.Context, p *store.GetLogsParams) ([]store.LogChunk, error) {
	q := `SELECT seq, attempt, time, stream, data FROM task_logs WHERE task_id = $1 AND seq > $2`
	args := []any{p.TaskID, p.AfterSeq}
	if p.Attempt > 0 {
		args = append(args, p.Attempt)
		q += ` AND attempt = $` + strconv.Itoa(len(args))
	}
	q += ` ORDER BY seq`
	if p.Limit > 0 {
		args = append(args, p.Limit)
		q += ` LIMIT $` + strconv.Itoa(len(args))
	}
	var out []store.LogChunk
	err := s.read(ctx, func(tx pgx.Tx) error {
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
			return taskExists(ctx, tx, p.TaskID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get logs of task %s attempt %d: %w", p.TaskID, p.Attempt, err)
	}
	return out, nil
}
