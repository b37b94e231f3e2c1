package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

const setProgressSQL = `UPDATE tasks SET progress_done = ?1, progress_total = ?2, progress_msg = ?3, progress_at = ?4
	WHERE id = ?5 AND attempt = ?6 AND status = 'running' AND (?7 = '' OR worker_id = ?7)`

// SetProgress records running attempts' progress in one transaction; see
// store.Store. A report with a zero UpdatedAt is stamped with the current
// time.
func (s *Store) SetProgress(ctx context.Context, p *store.SetProgressParams) (int, error) {
	if len(p.Reports) == 0 {
		return 0, nil
	}
	changed := make(map[store.Lease]bool, len(p.Reports))
	err := s.write(ctx, func(tx *sql.Tx) error {
		st, err := s.wstmt(ctx, tx, setProgressSQL)
		if err != nil {
			return err
		}
		for _, r := range p.Reports {
			res, err := st.ExecContext(ctx, r.Done, r.Total, loom.TrimProgressMessage(r.Message),
				toNanos(now(r.UpdatedAt)), r.ID, r.Attempt, p.WorkerID)
			if err != nil {
				return fmt.Errorf("task %s: %w", r.ID, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("task %s: %w", r.ID, err)
			}
			if n > 0 {
				changed[r.Lease] = true
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("set progress of %d attempts: %w", len(p.Reports), err)
	}
	return len(changed), nil
}
