package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/loomhq/loom"
)

// Times are stored as unix nanoseconds.

func toNanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func nullNanos(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func ptrTime(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

// utc normalises t as it reads back from the database.
func utc(t time.Time) time.Time { return fromNanos(t.UnixNano()) }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := utc(*t)
	return &u
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// encodeMap stores an empty map as NULL.
func encodeMap[M ~map[string]any](m M) (sql.NullString, error) {
	if len(m) == 0 {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return sql.NullString{}, fmt.Errorf("encode json: %w", err)
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

func decodeMap(s sql.NullString) (map[string]any, error) {
	if !s.Valid || s.String == "" {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s.String), &m); err != nil {
		return nil, fmt.Errorf("decode json: %w", err)
	}
	return m, nil
}

func encodeJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode json: %w", err)
	}
	return string(b), nil
}

// taskColumns are the columns scanTask reads, in order.
const taskColumns = `id, type, queue, info, attributes, input, output, status, result, msg,
	created, started, ended, timeout, attempt, max_attempts, priority,
	idempotency_key, parent_id, step, run_at, worker_id, lease_until, lease_expiries, retry, traceparent,
	progress_done, progress_total, progress_msg, progress_at`

type scanner interface{ Scan(dest ...any) error }

// scanTask reads one row of taskColumns.
func scanTask(sc scanner) (*loom.TaskInfo, error) {
	var (
		t                          loom.TaskInfo
		attrs, input, output       sql.NullString
		status, result             string
		created, timeout, runAt    int64
		started, ended, leaseUntil sql.NullInt64
		idemKey, parentID, step    sql.NullString
		retry                      sql.NullString
		progress                   loom.Progress
		progressAt                 sql.NullInt64
	)
	err := sc.Scan(&t.ID, &t.Type, &t.Queue, &t.Info, &attrs, &input, &output, &status, &result, &t.Msg,
		&created, &started, &ended, &timeout, &t.Attempt, &t.MaxAttempts, &t.Priority,
		&idemKey, &parentID, &step, &runAt, &t.WorkerID, &leaseUntil, &t.LeaseExpiries, &retry, &t.TraceParent,
		&progress.Done, &progress.Total, &progress.Message, &progressAt)
	if err != nil {
		return nil, err
	}
	if progressAt.Valid {
		progress.UpdatedAt = fromNanos(progressAt.Int64)
		t.Progress = &progress
	}
	t.Status = loom.Status(status)
	t.Result = loom.TaskResult(result)
	t.Created = fromNanos(created)
	t.Timeout = fromNanos(timeout)
	t.RunAt = fromNanos(runAt)
	t.Started = ptrTime(started)
	t.Ended = ptrTime(ended)
	t.LeaseUntil = ptrTime(leaseUntil)
	t.IdempotencyKey = idemKey.String
	t.ParentID = parentID.String
	t.Step = step.String
	if t.Attributes, err = decodeMap(attrs); err != nil {
		return nil, fmt.Errorf("task %s attributes: %w", t.ID, err)
	}
	m, err := decodeMap(input)
	if err != nil {
		return nil, fmt.Errorf("task %s input: %w", t.ID, err)
	}
	t.Input = loom.Values(m)
	if m, err = decodeMap(output); err != nil {
		return nil, fmt.Errorf("task %s output: %w", t.ID, err)
	}
	t.Output = loom.Values(m)
	if t.Retry, err = decodeRetry(retry.String); err != nil {
		return nil, fmt.Errorf("task %s retry: %w", t.ID, err)
	}
	return &t, nil
}

// scanTasks reads every row of rows and closes it.
func scanTasks(rows *sql.Rows) ([]*loom.TaskInfo, error) { return collect(rows, scanTask) }

// collect reads every row of rows with scan, and closes rows.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// queryAll runs q in tx and reads every row it answers with scan.
func queryAll[T any](ctx context.Context, tx *sql.Tx, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scan)
}

// briefClaimColumns are the columns a brief claim returns (see
// store.ClaimTasksParams.Brief), in the order scanBriefClaims reads them.
const briefClaimColumns = `id, type, queue, info, attributes, input, priority, created, run_at, timeout, attempt, max_attempts, lease_expiries, retry, traceparent`

// scanBriefClaims reads every row of briefClaimColumns as a task claimed
// by workerID at started until lease, and closes rows.
func scanBriefClaims(rows *sql.Rows, workerID string, started, lease time.Time) ([]*loom.TaskInfo, error) {
	defer rows.Close()
	started, lease = utc(started), utc(lease)
	var out []*loom.TaskInfo
	for rows.Next() {
		var (
			attrs, input, retry     sql.NullString
			created, runAt, timeout int64
		)
		t := &loom.TaskInfo{Status: loom.StatusRunning, WorkerID: workerID, Started: &started, LeaseUntil: &lease}
		if err := rows.Scan(&t.ID, &t.Type, &t.Queue, &t.Info, &attrs, &input, &t.Priority,
			&created, &runAt, &timeout, &t.Attempt, &t.MaxAttempts, &t.LeaseExpiries, &retry, &t.TraceParent); err != nil {
			return nil, err
		}
		t.Created, t.RunAt, t.Timeout = fromNanos(created), fromNanos(runAt), fromNanos(timeout)
		var err error
		if t.Attributes, err = decodeMap(attrs); err != nil {
			return nil, fmt.Errorf("task %s attributes: %w", t.ID, err)
		}
		m, err := decodeMap(input)
		if err != nil {
			return nil, fmt.Errorf("task %s input: %w", t.ID, err)
		}
		t.Input = loom.Values(m)
		if t.Retry, err = decodeRetry(retry.String); err != nil {
			return nil, fmt.Errorf("task %s retry: %w", t.ID, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// briefFinishColumns are the columns a brief finish returns (see
// store.FinishTasksParams.Brief), in the order scanBriefFinished reads
// them.
const briefFinishColumns = `id, type, queue, status, attempt, parent_id`

// scanBriefFinished reads every row of briefFinishColumns and closes rows.
func scanBriefFinished(rows *sql.Rows) ([]*loom.TaskInfo, error) {
	defer rows.Close()
	var out []*loom.TaskInfo
	for rows.Next() {
		var (
			t        loom.TaskInfo
			status   string
			parentID sql.NullString
		)
		if err := rows.Scan(&t.ID, &t.Type, &t.Queue, &status, &t.Attempt, &parentID); err != nil {
			return nil, err
		}
		t.Status, t.ParentID = loom.Status(status), parentID.String
		out = append(out, &t)
	}
	return out, rows.Err()
}

// encodeRetry is a task's retry policy as stored: JSON, or NULL for none.
func encodeRetry(r *loom.TaskRetry) (any, error) {
	if r == nil {
		return nil, nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// decodeRetry reads a stored retry policy; "" is none.
func decodeRetry(s string) (*loom.TaskRetry, error) {
	if s == "" {
		return nil, nil
	}
	r := new(loom.TaskRetry)
	if err := json.Unmarshal([]byte(s), r); err != nil {
		return nil, err
	}
	return r, nil
}
