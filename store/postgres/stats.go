package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// TaskStats summarises the activity of the tasks created in the window
// with two aggregate queries, one over creation times and one over end
// times, instead of reading the tasks: the counts are exact however many
// tasks the window holds, so Truncated is never set and Limit is unused.
// The engine fills p's defaults; a zero Until means now, a zero Since an
// hour before Until, a zero Bucket a sixtieth of the window.
func (s *Store) TaskStats(ctx context.Context, p *store.StatsParams) (*store.Stats, error) {
	q := *p
	if q.Until.IsZero() {
		q.Until = time.Now()
	}
	if q.Since.IsZero() {
		q.Since = q.Until.Add(-time.Hour)
	}
	if q.Bucket <= 0 {
		q.Bucket = max(q.Until.Sub(q.Since)/60, time.Second)
	}
	n := max(int(q.Until.Sub(q.Since)/q.Bucket)+1, 1)
	st := &store.Stats{Since: q.Since, Bucket: q.Bucket, Buckets: make([]store.StatsBucket, n)}
	for i := range st.Buckets {
		st.Buckets[i].Start = q.Since.Add(time.Duration(i) * q.Bucket)
	}
	since, width := toNanos(q.Since), int64(q.Bucket)
	// Tasks created after Since and no later than the end of the last
	// bucket: a range of the tasks_created index.
	created := `SELECT (created - $1::bigint) / $2::bigint, '', count(*) FROM tasks
		WHERE created > $1::bigint AND created < $1::bigint + $2::bigint * $3::bigint`
	// How the same tasks ended, by the bucket of their end time.
	ended := `SELECT (ended - $1::bigint) / $2::bigint, status, count(*) FROM tasks
		WHERE created > $1::bigint AND ended IS NOT NULL AND status IN ('completed', 'failed', 'cancelled')`
	args, endedArgs := []any{since, width, int64(n)}, []any{since, width}
	if q.Queue != "" {
		created += ` AND queue = $4`
		ended += ` AND queue = $3`
		args, endedArgs = append(args, q.Queue), append(endedArgs, q.Queue)
	}
	created += ` GROUP BY 1`
	ended += ` GROUP BY 1, 2`
	err := s.read(ctx, func(tx pgx.Tx) error {
		if err := eachBucket(ctx, tx, created, args, n, func(i int, _ string, count int) {
			st.Buckets[i].Created += count
		}); err != nil {
			return fmt.Errorf("created: %w", err)
		}
		if err := eachBucket(ctx, tx, ended, endedArgs, n, func(i int, status string, count int) {
			b := &st.Buckets[i]
			switch loom.Status(status) {
			case loom.StatusCompleted:
				b.Completed += count
			case loom.StatusFailed:
				b.Failed += count
			case loom.StatusCancelled:
				b.Cancelled += count
			}
		}); err != nil {
			return fmt.Errorf("ended: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("task stats since %s: %w", q.Since.Format(time.RFC3339), err)
	}
	return st, nil
}

// eachBucket runs an aggregate query whose rows are (bucket, status,
// count) and calls fn for each row whose bucket is one of the n.
func eachBucket(ctx context.Context, tx pgx.Tx, query string, args []any, n int, fn func(i int, status string, count int)) error {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			i, count int64
			status   string
		)
		if err := rows.Scan(&i, &status, &count); err != nil {
			return err
		}
		if i >= 0 && i < int64(n) {
			fn(int(i), status, int(count))
		}
	}
	return rows.Err()
}
