package postgres

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

const (
	getTaskSQL    = `SELECT ` + taskColumns + ` FROM tasks WHERE id = $1`
	findByKeySQL  = `SELECT ` + taskColumns + ` FROM tasks WHERE idempotency_key = $1`
	findByStepSQL = `SELECT ` + taskColumns + ` FROM tasks WHERE parent_id = $1 AND step = $2`
)

// insertTasksSQL inserts a batch given as one array per column, in the
// arrays' order, and returns the ids it inserted: a task whose id, key or
// flow step is taken is skipped.
const insertTasksSQL = `INSERT INTO tasks (id, type, queue, info, attributes, input, output, status, result, msg,
	created, started, ended, timeout, attempt, max_attempts, priority,
	idempotency_key, parent_id, step, run_at, worker_id, lease_until, retry, traceparent)
SELECT id, type, queue, info, attributes, input, output, status, result, msg,
	created, started, ended, timeout, attempt, max_attempts, priority,
	idempotency_key, parent_id, step, run_at, worker_id, lease_until, retry, traceparent
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
	$9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::int[], $16::int[],
	$17::int[], $18::text[], $19::text[], $20::text[], $21::bigint[], $22::text[], $23::bigint[], $24::text[], $25::text[])
	WITH ORDINALITY AS v(id, type, queue, info, attributes, input, output, status, result, msg,
	created, started, ended, timeout, attempt, max_attempts, priority,
	idempotency_key, parent_id, step, run_at, worker_id, lease_until, retry, traceparent, ord)
ORDER BY ord
ON CONFLICT DO NOTHING
RETURNING id`

// taskArrays are the columns of a batch of tasks to insert.
type taskArrays struct {
	id, typ, queue, info, status, result, msg, workerID []string
	traceparent                                         []string
	attrs, input, output, key, parentID, step, retry    []*string
	created, timeout, runAt                             []int64
	started, ended, leaseUntil                          []*int64
	attempt, maxAttempts, priority                      []int32
}

func (a *taskArrays) add(t *loom.TaskInfo) error {
	attrs, err := encodeMap(t.Attributes)
	if err != nil {
		return fmt.Errorf("attributes: %w", err)
	}
	input, err := encodeMap(t.Input)
	if err != nil {
		return fmt.Errorf("input: %w", err)
	}
	output, err := encodeMap(t.Output)
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	a.id = append(a.id, t.ID)
	a.typ = append(a.typ, t.Type)
	a.queue = append(a.queue, t.Queue)
	a.info = append(a.info, t.Info)
	a.attrs = append(a.attrs, attrs)
	a.input = append(a.input, input)
	a.output = append(a.output, output)
	a.status = append(a.status, string(t.Status))
	a.result = append(a.result, string(t.Result))
	a.msg = append(a.msg, t.Msg)
	a.created = append(a.created, toNanos(t.Created))
	a.started = append(a.started, nullNanos(t.Started))
	a.ended = append(a.ended, nullNanos(t.Ended))
	a.timeout = append(a.timeout, toNanos(t.Timeout))
	a.attempt = append(a.attempt, int32(t.Attempt))
	a.maxAttempts = append(a.maxAttempts, int32(t.MaxAttempts))
	a.priority = append(a.priority, int32(t.Priority))
	a.key = append(a.key, nullString(t.IdempotencyKey))
	a.parentID = append(a.parentID, nullString(t.ParentID))
	a.step = append(a.step, nullString(t.Step))
	a.runAt = append(a.runAt, toNanos(t.RunAt))
	a.workerID = append(a.workerID, t.WorkerID)
	a.leaseUntil = append(a.leaseUntil, nullNanos(t.LeaseUntil))
	retry, err := encodeRetry(t.Retry)
	if err != nil {
		return fmt.Errorf("retry: %w", err)
	}
	a.retry = append(a.retry, retry)
	a.traceparent = append(a.traceparent, t.TraceParent)
	return nil
}

func (a *taskArrays) args() []any {
	return []any{a.id, a.typ, a.queue, a.info, a.attrs, a.input, a.output, a.status, a.result, a.msg,
		a.created, a.started, a.ended, a.timeout, a.attempt, a.maxAttempts, a.priority,
		a.key, a.parentID, a.step, a.runAt, a.workerID, a.leaseUntil, a.retry, a.traceparent}
}

// InsertTasks creates tasks in one transaction with one statement; see
// store.Store. Defaults are filled on a copy: the returned Task of a
// created task is the given task with its defaults and its times in UTC.
// A task that is pending or running is stored without Ended, which only
// an ended task has. The queues of the pending tasks created are
// announced to ListenForWork.
func (s *Store) InsertTasks(ctx context.Context, p *store.InsertTasksParams) ([]store.InsertResult, error) {
	if len(p.Tasks) == 0 {
		return nil, nil
	}
	at := now(p.Now)
	tasks := make([]*loom.TaskInfo, len(p.Tasks))
	for i, in := range p.Tasks {
		t, err := withDefaults(in, at)
		if err != nil {
			return nil, fmt.Errorf("insert tasks: task %d: %w", i, err)
		}
		tasks[i] = t
	}
	results := make([]store.InsertResult, len(tasks))
	err := s.write(ctx, func(tx pgx.Tx) error {
		if p.Claimed {
			if err := holdBackClaims(ctx, tx, tasks); err != nil {
				return err
			}
		}
		var arrays taskArrays
		for _, t := range tasks {
			if err := arrays.add(t); err != nil {
				return fmt.Errorf("task %s: %w", t.ID, err)
			}
		}
		rows, err := tx.Query(ctx, insertTasksSQL, arrays.args()...)
		if err != nil {
			return err
		}
		ids, err := collect(rows, func(sc scanner) (string, error) {
			var id string
			return id, sc.Scan(&id)
		})
		if err != nil {
			return err
		}
		inserted := make(map[string]bool, len(ids))
		for _, id := range ids {
			inserted[id] = true
		}
		evs := make([]eventRow, 0, len(tasks))
		actor := actorData(p.Actor)
		var wake []string
		for i, t := range tasks {
			if inserted[t.ID] {
				delete(inserted, t.ID) // a later task with the same id was not inserted
				results[i] = store.InsertResult{Task: t}
				evs = append(evs, eventRow{taskID: t.ID, typ: eventCreated, time: toNanos(t.Created), status: t.Status, data: actor})
				if p.Claimed && t.Status == loom.StatusRunning {
					evs = append(evs, claimedEvent(t, at))
				}
				if t.Status == loom.StatusPending {
					wake = append(wake, t.Queue)
				}
				continue
			}
			existing, err := findExisting(ctx, tx, t)
			if err != nil {
				return fmt.Errorf("task %s: %w", t.ID, err)
			}
			results[i] = store.InsertResult{Task: existing, Existing: true}
		}
		if err := s.appendEvents(ctx, tx, evs); err != nil {
			return err
		}
		return s.announce(ctx, tx, wake...)
	})
	if err != nil {
		return nil, fmt.Errorf("insert %d tasks: %w", len(tasks), err)
	}
	return results, nil
}

// holdBackClaims turns the tasks given running whose queue's settings
// would keep a claim from starting them (paused, or capped by its
// Concurrency) back into pending tasks; see InsertTasksParams.Claimed.
func holdBackClaims(ctx context.Context, tx pgx.Tx, tasks []*loom.TaskInfo) error {
	blocked := make(map[string]bool)
	for _, t := range tasks {
		if t.Status != loom.StatusRunning {
			continue
		}
		b, ok := blocked[t.Queue]
		if !ok {
			var (
				concurrency int
				paused      bool
			)
			err := tx.QueryRow(ctx, `SELECT concurrency, paused FROM queues WHERE name = $1`, t.Queue).Scan(&concurrency, &paused)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("queue %s settings: %w", t.Queue, err)
			}
			b = paused || concurrency > 0
			blocked[t.Queue] = b
		}
		if b {
			t.Status, t.Attempt, t.WorkerID, t.Started, t.LeaseUntil = loom.StatusPending, 0, "", nil, nil
		}
	}
	return nil
}

// claimedEvent is the "started" event of a task claimed by its insert, as
// ClaimTasks records it.
func claimedEvent(t *loom.TaskInfo, at time.Time) eventRow {
	if t.Started != nil {
		at = *t.Started
	}
	return eventRow{taskID: t.ID, typ: eventStarted, time: toNanos(at), attempt: t.Attempt, status: t.Status,
		data: eventData(map[string]any{"worker_id": t.WorkerID})}
}

// withDefaults validates in and returns a copy with the documented
// defaults filled.
func withDefaults(in *loom.TaskInfo, at time.Time) (*loom.TaskInfo, error) {
	if in == nil {
		return nil, fmt.Errorf("nil task: %w", store.ErrInvalid)
	}
	if in.Type == "" {
		return nil, fmt.Errorf("empty type: %w", store.ErrInvalid)
	}
	t := *in
	if t.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("new id: %w", err)
		}
		t.ID = id.String()
	}
	if t.Queue == "" {
		t.Queue = loom.DefaultQueue
	}
	if t.Status == "" {
		t.Status = loom.StatusPending
	}
	if !t.Status.Valid() {
		return nil, fmt.Errorf("status %q: %w", t.Status, store.ErrInvalid)
	}
	if t.Created.IsZero() {
		t.Created = at
	}
	if t.RunAt.IsZero() {
		t.RunAt = at
	}
	if t.Timeout.IsZero() {
		t.Timeout = t.Created.Add(loom.DefaultTaskTimeout)
	}
	if t.MaxAttempts <= 0 {
		t.MaxAttempts = 1
	}
	if t.Step != "" && t.ParentID == "" {
		return nil, fmt.Errorf("step %q without a parent: %w", t.Step, store.ErrInvalid)
	}
	if !t.Status.Terminal() {
		// Only an ended task has an end time: the reaper finds the tasks
		// that may expire by their missing end time (index tasks_timeout).
		t.Ended = nil
	}
	t.Created = utc(t.Created)
	t.RunAt = utc(t.RunAt)
	t.Timeout = utc(t.Timeout)
	t.Started = utcPtr(t.Started)
	t.Ended = utcPtr(t.Ended)
	t.LeaseUntil = utcPtr(t.LeaseUntil)
	return &t, nil
}

// findExisting returns the task that kept t from being inserted: the one
// with its idempotency key, its flow step, or its id.
func findExisting(ctx context.Context, tx pgx.Tx, t *loom.TaskInfo) (*loom.TaskInfo, error) {
	type lookup struct {
		ok    bool
		query string
		args  []any
	}
	for _, l := range []lookup{
		{t.IdempotencyKey != "", findByKeySQL, []any{t.IdempotencyKey}},
		{t.ParentID != "" && t.Step != "", findByStepSQL, []any{t.ParentID, t.Step}},
		{true, getTaskSQL, []any{t.ID}},
	} {
		if !l.ok {
			continue
		}
		existing, err := scanTask(tx.QueryRow(ctx, l.query, l.args...))
		if err == nil {
			return existing, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("find existing task: %w", err)
		}
	}
	return nil, fmt.Errorf("task not inserted and no conflicting task found: %w", store.ErrConflict)
}

// GetTask returns one task, or ErrNotFound.
func (s *Store) GetTask(ctx context.Context, id string) (*loom.TaskInfo, error) {
	t, err := scanTask(s.db().QueryRow(ctx, getTaskSQL, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("get task %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	return t, nil
}

// Page sizes of ListTasks.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// ListTasks returns a page of tasks, newest first (by Created, then id).
// CreatedAfter and CreatedBefore are exclusive bounds; Text matches
// case-insensitively. The cursor is opaque; a malformed one is ErrInvalid.
func (s *Store) ListTasks(ctx context.Context, p *store.ListTasksParams) (*store.TaskPage, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = defaultPageSize
	}
	limit = min(limit, maxPageSize)
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	switch len(p.Status) {
	case 0:
	case 1:
		// Equality, not ANY: the index on (status, created) then yields
		// the tasks in the list's order, and the first page reads a page
		// of rows instead of sorting every task of the status.
		where = append(where, `status = `+arg(string(p.Status[0])))
	default:
		statuses := make([]string, len(p.Status))
		for i, st := range p.Status {
			statuses[i] = string(st)
		}
		where = append(where, `status = ANY(`+arg(statuses)+`::text[])`)
	}
	if p.Type != "" {
		where = append(where, `type = `+arg(p.Type))
	}
	if p.Queue != "" {
		where = append(where, `queue = `+arg(p.Queue))
	}
	if p.ParentID != "" {
		where = append(where, `parent_id = `+arg(p.ParentID))
	}
	if p.TopLevel {
		where = append(where, `parent_id IS NULL`)
	}
	if !p.CreatedAfter.IsZero() {
		where = append(where, `created > `+arg(toNanos(p.CreatedAfter)))
	}
	if !p.CreatedBefore.IsZero() {
		where = append(where, `created < `+arg(toNanos(p.CreatedBefore)))
	}
	if p.Text != "" {
		like := arg("%" + escapeLike(p.Text) + "%")
		where = append(where, `(id ILIKE `+like+` OR type ILIKE `+like+` OR info ILIKE `+like+
			` OR msg ILIKE `+like+` OR idempotency_key ILIKE `+like+`)`)
	}
	if p.KeyPrefix != "" {
		// A range, not LIKE, so that the unique index on the key serves
		// it; the key's collation is byte order.
		where = append(where, `idempotency_key >= `+arg(p.KeyPrefix)+` AND idempotency_key < `+arg(prefixEnd(p.KeyPrefix)))
	}
	if p.Cursor != "" {
		created, id, err := decodeCursor(p.Cursor)
		if err != nil {
			return nil, fmt.Errorf("list tasks: %w", err)
		}
		where = append(where, `(created, id) < (`+arg(created)+`, `+arg(id)+`)`)
	}
	q := `SELECT ` + taskColumns + ` FROM tasks`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY created DESC, id DESC LIMIT ` + arg(limit+1)
	// Planned for these values, not once for any: a generic plan cannot
	// tell a filter that matches half the tasks from one that matches
	// none, and for the latter walks every task in search of a page.
	tasks, err := scanTasks(s.db().Query(ctx, q, append([]any{pgx.QueryExecModeDescribeExec}, args...)...))
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	page := &store.TaskPage{Tasks: tasks}
	if len(tasks) > limit {
		page.Tasks = tasks[:limit]
		last := page.Tasks[limit-1]
		page.Next = encodeCursor(toNanos(last.Created), last.ID)
	}
	return page, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// A cursor is the Created (unix nanos) and id of the last task of a page.
func encodeCursor(created int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(created, 10) + ":" + id))
}

func decodeCursor(c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", fmt.Errorf("cursor %q: %w", c, store.ErrInvalid)
	}
	ns, id, ok := strings.Cut(string(b), ":")
	if !ok || id == "" {
		return 0, "", fmt.Errorf("cursor %q: %w", c, store.ErrInvalid)
	}
	created, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("cursor %q: %w", c, store.ErrInvalid)
	}
	return created, id, nil
}

// ListChildren returns the steps of a flow task, oldest first.
func (s *Store) ListChildren(ctx context.Context, parentID string) ([]*loom.TaskInfo, error) {
	tasks, err := scanTasks(s.db().Query(ctx, `SELECT `+taskColumns+` FROM tasks WHERE parent_id = $1 ORDER BY created, id`, parentID))
	if err != nil {
		return nil, fmt.Errorf("list children of %s: %w", parentID, err)
	}
	return tasks, nil
}

// lockStatus locks task id for the rest of tx and returns its status, or
// ErrNotFound.
func lockStatus(ctx context.Context, tx pgx.Tx, id string) (loom.Status, error) {
	var status string
	err := tx.QueryRow(ctx, `SELECT status FROM tasks WHERE id = $1 FOR UPDATE`, id).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", store.ErrNotFound
	}
	return loom.Status(status), err
}

// CancelTask cancels a task that has not ended and each of its descendants
// that has not ended: they become cancelled with result "error", Msg the
// reason ("cancelled" when empty) and Ended Now. The task comes first in
// the returned list, then its descendants oldest first.
func (s *Store) CancelTask(ctx context.Context, p *store.CancelTaskParams) ([]*loom.TaskInfo, error) {
	at := toNanos(now(p.Now))
	reason := p.Reason
	if reason == "" {
		reason = "cancelled"
	}
	var out []*loom.TaskInfo
	err := s.write(ctx, func(tx pgx.Tx) error {
		status, err := lockStatus(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		if status.Terminal() {
			return fmt.Errorf("task is %s: %w", status, store.ErrConflict)
		}
		out, err = scanTasks(tx.Query(ctx, `WITH RECURSIVE tree(id) AS (
				SELECT $1::text COLLATE "C"
				UNION ALL
				SELECT t.id FROM tasks t JOIN tree ON t.parent_id = tree.id
			)
			UPDATE tasks SET status = 'cancelled', result = 'error', msg = $2, ended = $3, lease_until = NULL
			WHERE id IN (SELECT id FROM tree) AND status IN ('pending', 'running')
			RETURNING `+taskColumns, p.ID, reason, at))
		if err != nil {
			return err
		}
		sort.Slice(out, func(i, j int) bool {
			a, b := out[i], out[j]
			if (a.ID == p.ID) != (b.ID == p.ID) {
				return a.ID == p.ID
			}
			if !a.Created.Equal(b.Created) {
				return a.Created.Before(b.Created)
			}
			return a.ID < b.ID
		})
		evs := make([]eventRow, len(out))
		for i, t := range out {
			evs[i] = eventRow{taskID: t.ID, typ: eventCancelled, time: at, attempt: t.Attempt, status: t.Status, msg: reason, data: actorData(p.Actor)}
		}
		return s.appendEvents(ctx, tx, evs)
	})
	if err != nil {
		return nil, fmt.Errorf("cancel task %s: %w", p.ID, err)
	}
	return out, nil
}

// RetryTask puts a failed or cancelled task back to pending, RunAt Now.
// Attempt keeps counting, so that a late outcome of an old attempt can
// never be taken for the new one: the fresh budget is MaxAttempts =
// Attempt + budget, where budget is p.MaxAttempts or, when zero, the
// budget the task had before. Result, Msg, Output, Ended and the lease are
// cleared, and Timeout moves forward to Now plus the task's original
// timeout duration.
func (s *Store) RetryTask(ctx context.Context, p *store.RetryTaskParams) (*loom.TaskInfo, error) {
	at := toNanos(now(p.Now))
	if p.MaxAttempts < 0 {
		return nil, fmt.Errorf("retry task %s: max attempts %d: %w", p.ID, p.MaxAttempts, store.ErrInvalid)
	}
	var input *string
	if p.Input != nil {
		var err error
		if input, err = encodeMap(p.Input); err != nil {
			return nil, fmt.Errorf("retry task %s: input: %w", p.ID, err)
		}
		if input == nil {
			empty := "{}"
			input = &empty
		}
	}
	var out *loom.TaskInfo
	err := s.write(ctx, func(tx pgx.Tx) error {
		status, err := lockStatus(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		if status != loom.StatusFailed && status != loom.StatusCancelled {
			return fmt.Errorf("task is %s: %w", status, store.ErrConflict)
		}
		out, err = scanTask(tx.QueryRow(ctx, `UPDATE tasks SET
				status = 'pending', result = '', msg = '', output = NULL, ended = NULL, lease_until = NULL,
				input = coalesce($1::text, input),
				max_attempts = attempt + CASE WHEN $2::int > 0 THEN $2::int ELSE greatest(max_attempts - retry_base, 1) END,
				retry_base = attempt,
				lost_runs = 0,
				timeout = $3::bigint + (timeout - created),
				run_at = $3::bigint
			WHERE id = $4
			RETURNING `+taskColumns, input, p.MaxAttempts, at, p.ID))
		if err != nil {
			return err
		}
		if err := s.appendEvents(ctx, tx, []eventRow{{taskID: out.ID, typ: eventRetried, time: at, attempt: out.Attempt, status: out.Status, data: actorData(p.Actor)}}); err != nil {
			return err
		}
		return s.announce(ctx, tx, out.Queue)
	})
	if err != nil {
		return nil, fmt.Errorf("retry task %s: %w", p.ID, err)
	}
	return out, nil
}

// ReleaseTaskKey clears the idempotency key of the ended task holding it;
// see store.Store.
func (s *Store) ReleaseTaskKey(ctx context.Context, p *store.ReleaseTaskKeyParams) error {
	if p.Key == "" || p.TaskID == "" {
		return fmt.Errorf("release idempotency key: key and task id are required: %w", store.ErrInvalid)
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		var status string
		err := tx.QueryRow(ctx, `SELECT status FROM tasks WHERE id = $1 AND idempotency_key = $2 FOR UPDATE`, p.TaskID, p.Key).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if st := loom.Status(status); !st.Terminal() {
			return fmt.Errorf("task is %s: %w", status, store.ErrConflict)
		}
		if _, err := tx.Exec(ctx, `UPDATE tasks SET idempotency_key = NULL WHERE id = $1`, p.TaskID); err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, []eventRow{{taskID: p.TaskID, typ: eventKeyFreed, time: toNanos(now(p.Now)), status: loom.Status(status), msg: p.Key}})
	})
	if err != nil {
		return fmt.Errorf("release idempotency key %q of task %s: %w", p.Key, p.TaskID, err)
	}
	return nil
}
