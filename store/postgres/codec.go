package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/loomhq/loom"
)

// Times are stored as unix nanoseconds; NULL columns map to nil pointers.

func toNanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func nullNanos(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	n := t.UnixNano()
	return &n
}

func ptrTime(n *int64) *time.Time {
	if n == nil {
		return nil
	}
	t := fromNanos(*n)
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

// nullString stores the empty string as NULL.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// encodeMap stores an empty map as NULL.
func encodeMap[M ~map[string]any](m M) (*string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode json: %w", err)
	}
	s := string(b)
	return &s, nil
}

func decodeMap(s *string) (map[string]any, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(*s), &m); err != nil {
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

// qualified returns columns, a comma-separated list, each prefixed with
// alias: for statements that join another relation with the same names.
func qualified(alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

type scanner interface{ Scan(dest ...any) error }

// scanTask reads one row of taskColumns.
func scanTask(sc scanner) (*loom.TaskInfo, error) {
	var (
		t                          loom.TaskInfo
		attrs, input, output       *string
		status, result             string
		created, timeout, runAt    int64
		started, ended, leaseUntil *int64
		idemKey, parentID, step    *string
		retry                      *string
		progress                   loom.Progress
		progressAt                 *int64
	)
	err := sc.Scan(&t.ID, &t.Type, &t.Queue, &t.Info, &attrs, &input, &output, &status, &result, &t.Msg,
		&created, &started, &ended, &timeout, &t.Attempt, &t.MaxAttempts, &t.Priority,
		&idemKey, &parentID, &step, &runAt, &t.WorkerID, &leaseUntil, &t.LeaseExpiries, &retry, &t.TraceParent,
		&progress.Done, &progress.Total, &progress.Message, &progressAt)
	if err != nil {
		return nil, err
	}
	if progressAt != nil {
		progress.UpdatedAt = fromNanos(*progressAt)
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
	t.IdempotencyKey = deref(idemKey)
	t.ParentID = deref(parentID)
	t.Step = deref(step)
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
	if t.Retry, err = decodeRetry(retry); err != nil {
		return nil, fmt.Errorf("task %s retry: %w", t.ID, err)
	}
	return &t, nil
}

// collect reads every row of rows with scan, and closes rows.
func collect[T any](rows pgx.Rows, scan func(scanner) (T, error)) ([]T, error) {
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

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// queryAll runs q and reads every row it answers with scan.
func queryAll[T any](ctx context.Context, db querier, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scan)
}

// scanTasks reads every row of rows and closes it.
func scanTasks(rows pgx.Rows, err error) ([]*loom.TaskInfo, error) {
	if err != nil {
		return nil, err
	}
	return collect(rows, scanTask)
}

// briefClaimColumns are the columns a brief claim returns (see
// store.ClaimTasksParams.Brief), in the order scanBriefClaim reads them.
const briefClaimColumns = `id, type, queue, info, attributes, input, priority, created, run_at, timeout, attempt, max_attempts, lease_expiries, retry, traceparent`

// briefClaimScanner reads rows of briefClaimColumns as tasks claimed by
// workerID at started until lease.
func briefClaimScanner(workerID string, started, lease time.Time) func(scanner) (*loom.TaskInfo, error) {
	started, lease = utc(started), utc(lease)
	return func(sc scanner) (*loom.TaskInfo, error) {
		var (
			attrs, input, retry     *string
			created, runAt, timeout int64
		)
		st, ls := started, lease
		t := &loom.TaskInfo{Status: loom.StatusRunning, WorkerID: workerID, Started: &st, LeaseUntil: &ls}
		if err := sc.Scan(&t.ID, &t.Type, &t.Queue, &t.Info, &attrs, &input, &t.Priority,
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
		if t.Retry, err = decodeRetry(retry); err != nil {
			return nil, fmt.Errorf("task %s retry: %w", t.ID, err)
		}
		return t, nil
	}
}

// briefFinishColumns are the columns a brief finish returns (see
// store.FinishTasksParams.Brief), in the order scanBriefFinished reads
// them.
const briefFinishColumns = `id, type, queue, status, attempt, parent_id`

// scanBriefFinished reads one row of briefFinishColumns.
func scanBriefFinished(sc scanner) (*loom.TaskInfo, error) {
	var (
		t        loom.TaskInfo
		status   string
		parentID *string
	)
	if err := sc.Scan(&t.ID, &t.Type, &t.Queue, &status, &t.Attempt, &parentID); err != nil {
		return nil, err
	}
	t.Status, t.ParentID = loom.Status(status), deref(parentID)
	return &t, nil
}

// encodeRetry is a task's retry policy as stored: JSON, or NULL for none.
func encodeRetry(r *loom.TaskRetry) (*string, error) {
	if r == nil {
		return nil, nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

// decodeRetry reads a stored retry policy; NULL is none.
func decodeRetry(s *string) (*loom.TaskRetry, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	r := new(loom.TaskRetry)
	if err := json.Unmarshal([]byte(*s), r); err != nil {
		return nil, err
	}
	return r, nil
}
