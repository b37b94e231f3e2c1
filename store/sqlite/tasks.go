package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

const (
	getTaskSQL      = `SELECT ` + taskColumns + ` FROM tasks WHERE id = ?`
	findByKeySQL    = `SELECT ` + taskColumns + ` FROM tasks WHERE idempotency_key = ?`
	findByStepSQL   = `SELECT ` + taskColumns + ` FROM tasks WHERE parent_id = ? AND step = ?`
	listChildrenSQL = `SELECT ` + taskColumns + ` FROM tasks WHERE parent_id = ? ORDER BY created, id`
)

// taskArgs is how many arguments one task of insertTasks takes.
const taskArgs = 25

var insertTasks = newBatched(`INSERT INTO tasks (id, type, queue, info, attributes, input, output, status, result, msg,
	created, started, ended, timeout, attempt, max_attempts, priority,
	idempotency_key, parent_id, step, run_at, worker_id, lease_until, retry, traceparent) VALUES `,
	`(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
	` ON CONFLICT DO NOTHING RETURNING id`)

// InsertTasks creates tasks in one transaction; see store.Store. Defaults
// are filled on a copy: the returned Task of a created task is the given
// task with its defaults and its times in UTC. A task that is pending or
// running is stored without Ended, which only an ended task has.
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		if p.Claimed {
			if err := s.holdBackClaims(ctx, tx, tasks); err != nil {
				return err
			}
		}
		args := make([]any, 0, len(tasks)*taskArgs)
		for _, t := range tasks {
			var err error
			if args, err = appendTaskArgs(args, t); err != nil {
				return fmt.Errorf("task %s: %w", t.ID, err)
			}
		}
		inserted := make(map[string]bool, len(tasks))
		rest := args
		for _, n := range chunkSizes(len(tasks)) {
			st, err := s.wstmt(ctx, tx, insertTasks.sql(n))
			if err != nil {
				return err
			}
			rows, err := st.QueryContext(ctx, rest[:n*taskArgs]...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				inserted[id] = true
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return err
			}
			rest = rest[n*taskArgs:]
		}
		evs := make([]eventRow, 0, len(tasks))
		counts := countDelta{}
		actor := actorData(p.Actor)
		for i, t := range tasks {
			if inserted[t.ID] {
				delete(inserted, t.ID) // a later task with the same id was not inserted
				results[i] = store.InsertResult{Task: t}
				evs = append(evs, eventRow{taskID: t.ID, typ: eventCreated, time: toNanos(t.Created), status: t.Status, data: actor})
				if p.Claimed && t.Status == loom.StatusRunning {
					evs = append(evs, claimedEvent(t, at))
				}
				counts.add(t.Queue, t.Status, 1)
				continue
			}
			existing, err := s.findExisting(ctx, tx, t)
			if err != nil {
				return fmt.Errorf("task %s: %w", t.ID, err)
			}
			results[i] = store.InsertResult{Task: existing, Existing: true}
		}
		if err := s.applyCounts(ctx, tx, counts); err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, evs)
	})
	if err != nil {
		return nil, fmt.Errorf("insert %d tasks: %w", len(tasks), err)
	}
	return results, nil
}

// holdBackClaims turns the tasks given running whose queue's settings
// would keep a claim from starting them (paused, or capped by its
// Concurrency) back into pending tasks; see InsertTasksParams.Claimed.
func (s *Store) holdBackClaims(ctx context.Context, tx *sql.Tx, tasks []*loom.TaskInfo) error {
	blocked := make(map[string]bool)
	for _, t := range tasks {
		if t.Status != loom.StatusRunning {
			continue
		}
		b, ok := blocked[t.Queue]
		if !ok {
			st, err := s.wstmt(ctx, tx, queueSettingsSQL)
			if err != nil {
				return err
			}
			var (
				concurrency int
				paused      bool
			)
			err = st.QueryRowContext(ctx, t.Queue).Scan(&concurrency, &paused)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
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

// appendTaskArgs appends t's values for insertTasks to args.
func appendTaskArgs(args []any, t *loom.TaskInfo) ([]any, error) {
	retry, err := encodeRetry(t.Retry)
	if err != nil {
		return nil, fmt.Errorf("retry: %w", err)
	}
	attrs, err := encodeMap(t.Attributes)
	if err != nil {
		return nil, fmt.Errorf("attributes: %w", err)
	}
	input, err := encodeMap(t.Input)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	output, err := encodeMap(t.Output)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	return append(args, t.ID, t.Type, t.Queue, t.Info, attrs, input, output, string(t.Status), string(t.Result), t.Msg,
		toNanos(t.Created), nullNanos(t.Started), nullNanos(t.Ended), toNanos(t.Timeout), t.Attempt, t.MaxAttempts, t.Priority,
		nullString(t.IdempotencyKey), nullString(t.ParentID), nullString(t.Step), toNanos(t.RunAt), t.WorkerID, nullNanos(t.LeaseUntil), retry, t.TraceParent), nil
}

// findExisting returns the task that kept t from being inserted: the one
// with its idempotency key, its flow step, or its id.
func (s *Store) findExisting(ctx context.Context, tx *sql.Tx, t *loom.TaskInfo) (*loom.TaskInfo, error) {
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
		st, err := s.wstmt(ctx, tx, l.query)
		if err != nil {
			return nil, err
		}
		existing, err := scanTask(st.QueryRowContext(ctx, l.args...))
		if err == nil {
			return existing, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("find existing task: %w", err)
		}
	}
	return nil, fmt.Errorf("task not inserted and no conflicting task found: %w", store.ErrConflict)
}

// GetTask returns one task, or ErrNotFound.
func (s *Store) GetTask(ctx context.Context, id string) (*loom.TaskInfo, error) {
	st, err := s.rstmt(ctx, nil, getTaskSQL)
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	t, err := scanTask(st.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
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
	from := `tasks`
	if len(p.Status) == 1 && p.Status[0] == loom.StatusRunning {
		// Running tasks are few (no more than the workers' slots), while
		// walking the tasks newest first in search of them may read every
		// task: read the index of running tasks and sort what it holds.
		from = `tasks INDEXED BY tasks_running`
		where = append(where, `status = 'running'`)
	} else if len(p.Status) == 1 && endedBadly(p.Status[0]) && p.Type == "" && p.ParentID == "" {
		// Such tasks are usually few: read their index. The status is
		// written out, not bound, so the planner sees that the index's
		// condition holds.
		from = `tasks INDEXED BY tasks_ended_badly`
		where = append(where, `status = '`+string(p.Status[0])+`'`)
	} else if len(p.Status) > 0 {
		where = append(where, `status IN (`+placeholders(len(p.Status))+`)`)
		for _, st := range p.Status {
			args = append(args, string(st))
		}
	}
	if p.Type != "" {
		where = append(where, `type = ?`)
		args = append(args, p.Type)
	}
	if p.Queue != "" {
		where = append(where, `queue = ?`)
		args = append(args, p.Queue)
	}
	if p.ParentID != "" {
		where = append(where, `parent_id = ?`)
		args = append(args, p.ParentID)
	}
	if p.TopLevel {
		where = append(where, `parent_id IS NULL`)
	}
	if !p.CreatedAfter.IsZero() {
		where = append(where, `created > ?`)
		args = append(args, toNanos(p.CreatedAfter))
	}
	if !p.CreatedBefore.IsZero() {
		where = append(where, `created < ?`)
		args = append(args, toNanos(p.CreatedBefore))
	}
	if p.Text != "" {
		like := "%" + escapeLike(p.Text) + "%"
		where = append(where, `(id LIKE ? ESCAPE '\' OR type LIKE ? ESCAPE '\' OR info LIKE ? ESCAPE '\' OR msg LIKE ? ESCAPE '\' OR idempotency_key LIKE ? ESCAPE '\')`)
		args = append(args, like, like, like, like, like)
	}
	if p.KeyPrefix != "" {
		// A range, not LIKE, so that the unique index on the key serves it.
		where = append(where, `idempotency_key >= ? AND idempotency_key < ?`)
		args = append(args, p.KeyPrefix, prefixEnd(p.KeyPrefix))
		if from == `tasks` {
			// Keyed tasks are few next to all tasks: without the hint the
			// planner prefers walking every task newest first.
			from = `tasks INDEXED BY tasks_idempotency_key`
		}
	}
	if p.Cursor != "" {
		created, id, err := decodeCursor(p.Cursor)
		if err != nil {
			return nil, fmt.Errorf("list tasks: %w", err)
		}
		where = append(where, `(created, id) < (?, ?)`)
		args = append(args, created, id)
	}
	q := `SELECT ` + taskColumns + ` FROM ` + from
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY created DESC, id DESC LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	tasks, err := scanTasks(rows)
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

// endedBadly reports whether s is a status index tasks_ended_badly holds.
func endedBadly(s loom.Status) bool {
	return s == loom.StatusFailed || s == loom.StatusCancelled || s == loom.StatusSkipped
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
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
	st, err := s.rstmt(ctx, nil, listChildrenSQL)
	if err != nil {
		return nil, fmt.Errorf("list children of %s: %w", parentID, err)
	}
	rows, err := st.QueryContext(ctx, parentID)
	if err != nil {
		return nil, fmt.Errorf("list children of %s: %w", parentID, err)
	}
	tasks, err := scanTasks(rows)
	if err != nil {
		return nil, fmt.Errorf("list children of %s: %w", parentID, err)
	}
	return tasks, nil
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, `SELECT status FROM tasks WHERE id = ?`, p.ID).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if loom.Status(status).Terminal() {
			return fmt.Errorf("task is %s: %w", status, store.ErrConflict)
		}
		// The counts by queue and status of what is about to be
		// cancelled: the update cannot return the statuses it replaces.
		counts := countDelta{}
		crows, err := tx.QueryContext(ctx, `WITH RECURSIVE tree(id) AS (
				SELECT ?
				UNION ALL
				SELECT t.id FROM tasks t JOIN tree ON t.parent_id = tree.id
			)
			SELECT queue, status, count(*) FROM tasks
			WHERE id IN (SELECT id FROM tree) AND status IN ('pending', 'running')
			GROUP BY queue, status`, p.ID)
		if err != nil {
			return err
		}
		for crows.Next() {
			var (
				queue, status string
				n             int
			)
			if err := crows.Scan(&queue, &status, &n); err != nil {
				crows.Close()
				return err
			}
			counts.move(queue, loom.Status(status), loom.StatusCancelled, n)
		}
		if err := crows.Close(); err != nil {
			return err
		}
		if err := crows.Err(); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `WITH RECURSIVE tree(id) AS (
				SELECT ?
				UNION ALL
				SELECT t.id FROM tasks t JOIN tree ON t.parent_id = tree.id
			)
			UPDATE tasks SET status = 'cancelled', result = 'error', msg = ?, ended = ?, lease_until = NULL
			WHERE id IN (SELECT id FROM tree) AND status IN ('pending', 'running')
			RETURNING `+taskColumns, p.ID, reason, at)
		if err != nil {
			return err
		}
		if out, err = scanTasks(rows); err != nil {
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
		if err := s.applyCounts(ctx, tx, counts); err != nil {
			return err
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
	var input sql.NullString
	if p.Input != nil {
		var err error
		if input, err = encodeMap(p.Input); err != nil {
			return nil, fmt.Errorf("retry task %s: input: %w", p.ID, err)
		}
		if !input.Valid {
			input = sql.NullString{String: "{}", Valid: true}
		}
	}
	var out *loom.TaskInfo
	err := s.write(ctx, func(tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, `SELECT status FROM tasks WHERE id = ?`, p.ID).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if s := loom.Status(status); s != loom.StatusFailed && s != loom.StatusCancelled {
			return fmt.Errorf("task is %s: %w", status, store.ErrConflict)
		}
		row := tx.QueryRowContext(ctx, `UPDATE tasks SET
				status = 'pending', result = '', msg = '', output = NULL, ended = NULL, lease_until = NULL,
				input = CASE WHEN ?1 IS NULL THEN input ELSE ?1 END,
				max_attempts = attempt + CASE WHEN ?2 > 0 THEN ?2 ELSE max(max_attempts - retry_base, 1) END,
				retry_base = attempt,
				lost_runs = 0,
				timeout = ?3 + (timeout - created),
				run_at = ?3
			WHERE id = ?4
			RETURNING `+taskColumns, input, p.MaxAttempts, at, p.ID)
		if out, err = scanTask(row); err != nil {
			return err
		}
		counts := countDelta{}
		counts.move(out.Queue, loom.Status(status), out.Status, 1)
		if err := s.applyCounts(ctx, tx, counts); err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, []eventRow{{taskID: out.ID, typ: eventRetried, time: at, attempt: out.Attempt, status: out.Status, data: actorData(p.Actor)}})
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, `SELECT status FROM tasks WHERE id = ? AND idempotency_key = ?`, p.TaskID, p.Key).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if st := loom.Status(status); !st.Terminal() {
			return fmt.Errorf("task is %s: %w", status, store.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tasks SET idempotency_key = NULL WHERE id = ?`, p.TaskID); err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, []eventRow{{taskID: p.TaskID, typ: eventKeyFreed, time: toNanos(now(p.Now)), status: loom.Status(status), msg: p.Key}})
	})
	if err != nil {
		return fmt.Errorf("release idempotency key %q of task %s: %w", p.Key, p.TaskID, err)
	}
	return nil
}
