package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// setProgressSQL applies reports given as one array per column, in one
// statement; a task reported twice takes the report given last.
const setProgressSQL = `UPDATE tasks t
	SET progress_done = v.done, progress_total = v.total, progress_msg = v.msg, progress_at = v.at
	FROM (SELECT DISTINCT ON (id, attempt) id, attempt, done, total, msg, at
		FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[])
			WITH ORDINALITY AS r(id, attempt, done, total, msg, at, n)
		ORDER BY id, attempt, n DESC) AS v
	WHERE t.id = v.id AND t.attempt = v.attempt AND t.status = 'running'
		AND ($7 = '' OR t.worker_id = $7)`

// SetProgress records running attempts' progress with one statement; see
// store.Store. A report with a zero UpdatedAt is stamped with the current
// time.
func (s *Store) SetProgress(ctx context.Context, p *store.SetProgressParams) (int, error) {
	if len(p.Reports) == 0 {
		return 0, nil
	}
	n := len(p.Reports)
	ids, msgs := make([]string, n), make([]string, n)
	attempts := make([]int32, n)
	done, total, at := make([]int64, n), make([]int64, n), make([]int64, n)
	for i, r := range p.Reports {
		ids[i], attempts[i] = r.ID, int32(r.Attempt)
		done[i], total[i], msgs[i] = r.Done, r.Total, loom.TrimProgressMessage(r.Message)
		at[i] = toNanos(now(r.UpdatedAt))
	}
	changed := 0
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, setProgressSQL, ids, attempts, done, total, msgs, at, p.WorkerID)
		if err != nil {
			return err
		}
		changed = int(tag.RowsAffected())
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("set progress of %d attempts: %w", n, err)
	}
	return changed, nil
}
