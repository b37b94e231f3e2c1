package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// defaultLease is the lease a claim gets when ClaimTasksParams.LeaseUntil
// is zero.
const defaultLease = 5 * time.Minute

const (
	// claimUpdate picks the tasks by rowid, which the claim index holds,
	// so that updating each costs one seek of the table instead of a seek
	// of the primary-key index and then one of the table.
	claimUpdate = `UPDATE tasks
	SET status = 'running', attempt = attempt + 1, worker_id = ?1, started = ?2, lease_until = ?3,
		progress_done = 0, progress_total = 0, progress_msg = '', progress_at = NULL
	WHERE rowid IN (
		SELECT rowid FROM tasks
		WHERE queue = ?4 AND status = 'pending' AND run_at <= ?2 AND timeout > ?2
		ORDER BY priority DESC, run_at, id
		LIMIT ?5)
	RETURNING `
	claimSQL         = claimUpdate + taskColumns
	claimBriefSQL    = claimUpdate + briefClaimColumns
	queueSettingsSQL = `SELECT concurrency, paused FROM queues WHERE name = ?`
	countRunningSQL  = `SELECT count(*) FROM tasks WHERE queue = ? AND status = 'running'`
	extendLeaseSQL   = `UPDATE tasks SET lease_until = ?1
	WHERE id = ?2 AND attempt = ?3 AND status = 'running' AND (?4 = '' OR worker_id = ?4) RETURNING status`
	markStartedSQL = `UPDATE tasks SET began = attempt
	WHERE id = ?1 AND attempt = ?2 AND status = 'running' AND (?3 = '' OR worker_id = ?3) RETURNING status`
	taskStatusSQL = `SELECT status FROM tasks WHERE id = ?`
)

// ClaimTasks moves up to Limit due pending tasks of Queue to running; see
// store.Store. Besides MaxRunning it honours the queue's settings: a paused
// queue starts nothing, and a positive Concurrency caps its running tasks
// like MaxRunning. Tasks already past their Timeout are left to the
// reaper. An empty Queue means "default"; a zero Now the current time; a
// zero LeaseUntil Now+5m. The tasks come back in claim order.
func (s *Store) ClaimTasks(ctx context.Context, p *store.ClaimTasksParams) ([]*loom.TaskInfo, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	queue := p.Queue
	if queue == "" {
		queue = loom.DefaultQueue
	}
	at := now(p.Now)
	lease := p.LeaseUntil
	if lease.IsZero() {
		lease = at.Add(defaultLease)
	}
	var out []*loom.TaskInfo
	err := s.write(ctx, func(tx *sql.Tx) error {
		limit, err := s.claimLimit(ctx, tx, queue, p.Limit, p.MaxRunning)
		if err != nil || limit <= 0 {
			return err
		}
		query := claimSQL
		if p.Brief {
			query = claimBriefSQL
		}
		st, err := s.wstmt(ctx, tx, query)
		if err != nil {
			return err
		}
		rows, err := st.QueryContext(ctx, p.WorkerID, toNanos(at), toNanos(lease), queue, limit)
		if err != nil {
			return err
		}
		if p.Brief {
			out, err = scanBriefClaims(rows, p.WorkerID, at, lease)
		} else {
			out, err = scanTasks(rows)
		}
		if err != nil {
			return err
		}
		sort.Slice(out, func(i, j int) bool { return claimOrder(out[i], out[j]) })
		counts := countDelta{}
		counts.move(queue, loom.StatusPending, loom.StatusRunning, len(out))
		if err := s.applyCounts(ctx, tx, counts); err != nil {
			return err
		}
		data := eventData(map[string]any{"worker_id": p.WorkerID})
		evs := make([]eventRow, len(out))
		for i, t := range out {
			evs[i] = eventRow{taskID: t.ID, typ: eventStarted, time: toNanos(at), attempt: t.Attempt, status: t.Status, data: data}
		}
		return s.appendEvents(ctx, tx, evs)
	})
	if err != nil {
		return nil, fmt.Errorf("claim tasks in queue %s: %w", queue, err)
	}
	return out, nil
}

func claimOrder(a, b *loom.TaskInfo) bool {
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	if !a.RunAt.Equal(b.RunAt) {
		return a.RunAt.Before(b.RunAt)
	}
	return a.ID < b.ID
}

// claimLimit is how many tasks a claim may start in queue now.
func (s *Store) claimLimit(ctx context.Context, tx *sql.Tx, queue string, limit, maxRunning int) (int, error) {
	st, err := s.wstmt(ctx, tx, queueSettingsSQL)
	if err != nil {
		return 0, err
	}
	var (
		concurrency int
		paused      bool
	)
	err = st.QueryRowContext(ctx, queue).Scan(&concurrency, &paused)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("queue settings: %w", err)
	}
	if paused {
		return 0, nil
	}
	capacity := maxRunning
	if concurrency > 0 && (capacity <= 0 || concurrency < capacity) {
		capacity = concurrency
	}
	if capacity <= 0 {
		return limit, nil
	}
	st, err = s.wstmt(ctx, tx, countRunningSQL)
	if err != nil {
		return 0, err
	}
	var running int
	if err := st.QueryRowContext(ctx, queue).Scan(&running); err != nil {
		return 0, fmt.Errorf("count running: %w", err)
	}
	return min(limit, capacity-running), nil
}

// ExtendLeases moves LeaseUntil forward for the leases still held; see
// store.Store. The Status of a task that does not exist is empty.
func (s *Store) ExtendLeases(ctx context.Context, p *store.ExtendLeasesParams) ([]store.LeaseOutcome, error) {
	out, err := s.updateLeases(ctx, p.Leases, extendLeaseSQL, toNanos(p.LeaseUntil), p.WorkerID)
	if err != nil {
		return nil, fmt.Errorf("extend %d leases: %w", len(p.Leases), err)
	}
	return out, nil
}

// MarkStarted records that attempts' handlers started; see store.Store.
func (s *Store) MarkStarted(ctx context.Context, p *store.MarkStartedParams) ([]store.LeaseOutcome, error) {
	out, err := s.updateLeases(ctx, p.Leases, markStartedSQL, nil, p.WorkerID)
	if err != nil {
		return nil, fmt.Errorf("mark %d attempts started: %w", len(p.Leases), err)
	}
	return out, nil
}

// updateLeases runs query, an update of one running attempt returning its
// status, for each lease, with arg (if not nil) before the lease's id and
// attempt and workerID after; it reports which leases it changed, and the
// status of each task.
func (s *Store) updateLeases(ctx context.Context, leases []store.Lease, query string, arg any, workerID string) ([]store.LeaseOutcome, error) {
	if len(leases) == 0 {
		return nil, nil
	}
	out := make([]store.LeaseOutcome, len(leases))
	err := s.write(ctx, func(tx *sql.Tx) error {
		upd, err := s.wstmt(ctx, tx, query)
		if err != nil {
			return err
		}
		get, err := s.wstmt(ctx, tx, taskStatusSQL)
		if err != nil {
			return err
		}
		for i, l := range leases {
			out[i].Lease = l
			args := []any{l.ID, l.Attempt, workerID}
			if arg != nil {
				args = append([]any{arg}, args...)
			}
			var status string
			err := upd.QueryRowContext(ctx, args...).Scan(&status)
			if err == nil {
				out[i].Extended = true
				out[i].Status = loom.Status(status)
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("task %s: %w", l.ID, err)
			}
			err = get.QueryRowContext(ctx, l.ID).Scan(&status)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("task %s: %w", l.ID, err)
			}
			out[i].Status = loom.Status(status)
		}
		return nil
	})
	return out, err
}

// finishHead and finishTail make the statement that applies outcomes
// given as rows (id, attempt, status, result, msg, output, ended, run_at,
// given back, started, worker) to the tasks still running in that attempt
// (by that worker, when worker is not empty); given back is 1 for an
// attempt released unstarted, which gives its number back.
const (
	finishHead = `UPDATE tasks
	SET status = v.column3, result = v.column4, msg = v.column5, output = v.column6, ended = v.column7,
		run_at = coalesce(v.column8, tasks.run_at), lease_until = NULL, attempt = tasks.attempt - v.column9,
		started = coalesce(v.column10, tasks.started)
	FROM (VALUES `
	finishRow  = `(?,?,?,?,?,?,?,?,?,?,?)`
	finishCols = 11
	finishTail = `) AS v
	WHERE tasks.id = v.column1 AND tasks.attempt = v.column2 AND tasks.status = 'running'
		AND (v.column11 = '' OR tasks.worker_id = v.column11)
	RETURNING `
)

// finishBatch returns the whole tasks it changed, finishBriefBatch
// briefFinishColumns of them.
var (
	finishBatch      = newBatched(finishHead, finishRow, finishTail+taskColumns)
	finishBriefBatch = newBatched(finishHead, finishRow, finishTail+briefFinishColumns)
)

// FinishTasks records attempt outcomes; see store.Store. A completed
// outcome sets Result "complete", a failed one "error"; both set Ended to
// the outcome's Ended, or Now.
// A pending outcome puts the task back to wait until RetryAt (Now when
// zero). An outcome for a task that does not exist has Applied=false and
// a nil Task.
func (s *Store) FinishTasks(ctx context.Context, p *store.FinishTasksParams) ([]store.FinishResult, error) {
	if len(p.Outcomes) == 0 {
		if len(p.Started) > 0 {
			_, err := s.MarkStarted(ctx, &store.MarkStartedParams{Leases: p.Started})
			return nil, err
		}
		return nil, nil
	}
	at := now(p.Now)
	args := make([]any, 0, finishCols*len(p.Outcomes))
	evs := make([]eventRow, len(p.Outcomes))
	// first[i] is false for an outcome whose task an earlier outcome of
	// the batch already names: only the first can apply.
	first := make([]bool, len(p.Outcomes))
	seen := make(map[string]bool, len(p.Outcomes))
	for i, o := range p.Outcomes {
		output, err := encodeMap(o.Output)
		if err != nil {
			return nil, fmt.Errorf("finish task %s: output: %w", o.ID, err)
		}
		ev := eventRow{taskID: o.ID, time: toNanos(at), attempt: o.Attempt, status: o.Status, msg: o.Msg}
		var (
			result string
			ended  sql.NullInt64
			runAt  sql.NullInt64
			back   int
		)
		switch o.Status {
		case loom.StatusCompleted:
			result, ended, ev.typ = string(loom.ResultComplete), sql.NullInt64{Int64: toNanos(endedAt(o, at)), Valid: true}, eventCompleted
		case loom.StatusFailed:
			result, ended, ev.typ = string(loom.ResultError), sql.NullInt64{Int64: toNanos(endedAt(o, at)), Valid: true}, eventFailed
		case loom.StatusPending:
			retryAt := o.RetryAt
			if retryAt.IsZero() {
				retryAt = at
			}
			runAt = sql.NullInt64{Int64: toNanos(retryAt), Valid: true}
			ev.typ = eventRetrying
			ev.data = eventData(map[string]any{"retry_at": utc(retryAt).Format(time.RFC3339Nano)})
		default:
			return nil, fmt.Errorf("finish task %s: status %q is not completed, failed or pending: %w", o.ID, o.Status, store.ErrInvalid)
		}
		if o.Unstarted {
			if o.Status != loom.StatusPending {
				return nil, fmt.Errorf("finish task %s: an unstarted attempt can only go back to pending, not %s: %w", o.ID, o.Status, store.ErrInvalid)
			}
			back = 1
		}
		evs[i] = ev
		if seen[o.ID] {
			continue
		}
		seen[o.ID], first[i] = true, true
		var started sql.NullInt64
		if !o.Started.IsZero() {
			started = sql.NullInt64{Int64: toNanos(o.Started), Valid: true}
		}
		args = append(args, o.ID, o.Attempt, string(o.Status), result, o.Msg, output, ended, runAt, back, started, o.WorkerID)
	}
	out := make([]store.FinishResult, len(p.Outcomes))
	err := s.write(ctx, func(tx *sql.Tx) error {
		if len(p.Started) > 0 {
			mark, err := s.wstmt(ctx, tx, markStartedSQL)
			if err != nil {
				return err
			}
			for _, l := range p.Started {
				if _, err := mark.ExecContext(ctx, l.ID, l.Attempt, ""); err != nil {
					return fmt.Errorf("mark task %s started: %w", l.ID, err)
				}
			}
		}
		updated := make(map[string]*loom.TaskInfo, len(p.Outcomes))
		rest := args
		batch, scan := finishBatch, scanTasks
		if p.Brief {
			batch, scan = finishBriefBatch, scanBriefFinished
		}
		for _, n := range chunkSizes(len(rest) / finishCols) {
			st, err := s.wstmt(ctx, tx, batch.sql(n))
			if err != nil {
				return err
			}
			rows, err := st.QueryContext(ctx, rest[:n*finishCols]...)
			if err != nil {
				return err
			}
			tasks, err := scan(rows)
			if err != nil {
				return err
			}
			for _, t := range tasks {
				updated[t.ID] = t
			}
			rest = rest[n*finishCols:]
		}
		applied := make([]eventRow, 0, len(updated))
		counts := countDelta{}
		for i, o := range p.Outcomes {
			if t := updated[o.ID]; t != nil && first[i] {
				out[i] = store.FinishResult{Task: t, Applied: true}
				applied = append(applied, evs[i])
				counts.move(t.Queue, loom.StatusRunning, t.Status, 1)
				continue
			}
			get, err := s.wstmt(ctx, tx, getTaskSQL)
			if err != nil {
				return err
			}
			t, err := scanTask(get.QueryRowContext(ctx, o.ID))
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("task %s: %w", o.ID, err)
			}
			out[i] = store.FinishResult{Task: t}
		}
		if err := s.applyCounts(ctx, tx, counts); err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, applied)
	})
	if err != nil {
		return nil, fmt.Errorf("finish %d tasks: %w", len(p.Outcomes), err)
	}
	return out, nil
}

// expiredMsg is the Msg of a task the reaper failed.
const expiredMsg = "expired: the task did not end before its timeout"

// ReapTasks fails the tasks whose Timeout has come (with Msg saying they
// expired) and deals with the running tasks whose LeaseUntil has come, as
// store.Store says: back to pending, or failed after MaxLostRuns lost
// runs. Limit bounds both together; expiries go first.
func (s *Store) ReapTasks(ctx context.Context, p *store.ReapTasksParams) (*store.ReapResult, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 1000
	}
	at := toNanos(now(p.Now))
	// Leases lapse on their own clock (see ReapTasksParams.LeaseNow).
	leaseAt := at
	if !p.LeaseNow.IsZero() {
		leaseAt = toNanos(p.LeaseNow)
	}
	res := &store.ReapResult{}
	err := s.write(ctx, func(tx *sql.Tx) error {
		// Choose the tasks to expire first: the update cannot return the
		// statuses it replaces, which the queue counts need.
		counts := countDelta{}
		rowids, err := s.expiring(ctx, tx, at, limit, counts)
		if err != nil {
			return fmt.Errorf("expire: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `UPDATE tasks
			SET status = 'failed', result = 'error', msg = ?1, ended = ?2, lease_until = NULL
			WHERE rowid IN (SELECT value FROM json_each(?3))
			RETURNING `+taskColumns, expiredMsg, at, rowids)
		if err != nil {
			return fmt.Errorf("expire: %w", err)
		}
		if res.Expired, err = scanTasks(rows); err != nil {
			return fmt.Errorf("expire: %w", err)
		}
		evs := make([]eventRow, 0, len(res.Expired))
		for _, t := range res.Expired {
			evs = append(evs, eventRow{taskID: t.ID, typ: eventExpired, time: at, attempt: t.Attempt, status: t.Status, msg: expiredMsg})
		}
		if left := limit - len(res.Expired); left > 0 {
			lapsed, err := s.reapLapsed(ctx, tx, leaseAt, left, p.MaxLostRuns, res, counts)
			if err != nil {
				return fmt.Errorf("requeue: %w", err)
			}
			evs = append(evs, lapsed...)
		}
		if err := s.applyCounts(ctx, tx, counts); err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, evs)
	})
	if err != nil {
		return nil, fmt.Errorf("reap tasks: %w", err)
	}
	return res, nil
}

// lapsedTask is a running task whose lease lapsed, as the reaper finds it.
type lapsedTask struct {
	rowid    int64
	id       string
	queue    string
	attempt  int
	began    bool
	lostRuns int
	workerID string
}

// reapLapsed deals with up to limit running tasks whose lease lapsed at
// time at: those whose attempt had not started go back to pending giving
// their attempt number back; those whose attempt had count a lost run, and
// fail once they have lost maxLost (if positive). It adds the tasks to
// res, their moves to counts, and returns their events.
func (s *Store) reapLapsed(ctx context.Context, tx *sql.Tx, at int64, limit, maxLost int, res *store.ReapResult, counts countDelta) ([]eventRow, error) {
	found, err := queryAll(ctx, tx, func(sc scanner) (lapsedTask, error) {
		var l lapsedTask
		err := sc.Scan(&l.rowid, &l.id, &l.queue, &l.attempt, &l.began, &l.lostRuns, &l.workerID)
		return l, err
	}, `SELECT rowid, id, queue, attempt, began = attempt, lost_runs, worker_id FROM tasks
		WHERE status = 'running' AND lease_until <= ?1
		ORDER BY lease_until LIMIT ?2`, at, limit)
	if err != nil || len(found) == 0 {
		return nil, err
	}
	var unstarted, lost, failed []int64
	byID := make(map[string]lapsedTask, len(found))
	for _, l := range found {
		byID[l.id] = l
		res.Lapsed = append(res.Lapsed, store.Lease{ID: l.id, Attempt: l.attempt})
		switch {
		case !l.began:
			unstarted = append(unstarted, l.rowid)
		case maxLost > 0 && l.lostRuns+1 >= maxLost:
			failed = append(failed, l.rowid)
		default:
			lost = append(lost, l.rowid)
		}
	}
	update := func(rowids []int64, set string, args ...any) ([]*loom.TaskInfo, error) {
		if len(rowids) == 0 {
			return nil, nil
		}
		list, err := encodeJSON(rowids)
		if err != nil {
			return nil, err
		}
		return queryAll(ctx, tx, scanTask, `UPDATE tasks SET `+set+`,
				lease_until = NULL, lease_expiries = lease_expiries + 1
			WHERE rowid IN (SELECT value FROM json_each(?1))
			RETURNING `+taskColumns, append([]any{list}, args...)...)
	}
	requeuedUnstarted, err := update(unstarted, `status = 'pending', attempt = attempt - 1`)
	if err != nil {
		return nil, err
	}
	requeuedLost, err := update(lost, `status = 'pending', lost_runs = lost_runs + 1`)
	if err != nil {
		return nil, err
	}
	failMsg := store.LostRunsMsg(maxLost)
	res.Lost, err = update(failed, `status = 'failed', result = 'error', msg = ?2, ended = ?3, lost_runs = lost_runs + 1`, failMsg, at)
	if err != nil {
		return nil, err
	}
	res.Requeued = append(res.Requeued, requeuedUnstarted...)
	res.Requeued = append(res.Requeued, requeuedLost...)
	evs := make([]eventRow, 0, len(found))
	for _, t := range requeuedUnstarted {
		l := byID[t.ID]
		counts.move(t.Queue, loom.StatusRunning, t.Status, 1)
		evs = append(evs, eventRow{taskID: t.ID, typ: eventRequeued, time: at, attempt: l.attempt, status: t.Status,
			msg:  store.LapsedUnstartedMsg(l.attempt),
			data: eventData(map[string]any{"worker_id": l.workerID})})
	}
	for _, t := range requeuedLost {
		l := byID[t.ID]
		counts.move(t.Queue, loom.StatusRunning, t.Status, 1)
		evs = append(evs, eventRow{taskID: t.ID, typ: eventRequeued, time: at, attempt: l.attempt, status: t.Status,
			msg: store.LostRunMsg(l.attempt, l.lostRuns+1, maxLost), data: eventData(map[string]any{"worker_id": l.workerID})})
	}
	for _, t := range res.Lost {
		l := byID[t.ID]
		counts.move(t.Queue, loom.StatusRunning, t.Status, 1)
		evs = append(evs, eventRow{taskID: t.ID, typ: eventFailed, time: at, attempt: l.attempt, status: t.Status,
			msg: failMsg, data: eventData(map[string]any{"worker_id": l.workerID})})
	}
	return evs, nil
}

// expiring returns, as a JSON array of rowids, up to limit tasks whose
// timeout has come at time at, earliest first, and counts them in counts
// as moving to failed.
func (s *Store) expiring(ctx context.Context, tx *sql.Tx, at int64, limit int, counts countDelta) (string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT rowid, queue, status FROM tasks
		WHERE ended IS NULL AND status IN ('pending', 'running') AND timeout <= ?1
		ORDER BY timeout LIMIT ?2`, at, limit)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	rowids := []int64{}
	for rows.Next() {
		var (
			rowid         int64
			queue, status string
		)
		if err := rows.Scan(&rowid, &queue, &status); err != nil {
			return "", err
		}
		rowids = append(rowids, rowid)
		counts.move(queue, loom.Status(status), loom.StatusFailed, 1)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	return encodeJSON(rowids)
}

// NextRunAt returns the earliest RunAt among pending tasks of the queues
// (all queues when empty).
func (s *Store) NextRunAt(ctx context.Context, queues []string) (time.Time, bool, error) {
	q := `SELECT min(run_at) FROM tasks WHERE status = 'pending'`
	args := make([]any, len(queues))
	if len(queues) > 0 {
		q += ` AND queue IN (` + placeholders(len(queues)) + `)`
		for i, name := range queues {
			args[i] = name
		}
	}
	// The dispatcher asks after every pass with the same queues: the
	// statement is prepared once.
	st, err := s.rstmt(ctx, nil, q)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next run time of queues %v: %w", queues, err)
	}
	var at sql.NullInt64
	if err := st.QueryRowContext(ctx, args...).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("next run time of queues %v: %w", queues, err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return fromNanos(at.Int64), true, nil
}

// NextTimeout returns the earliest Timeout among tasks that have not ended.
func (s *Store) NextTimeout(ctx context.Context) (time.Time, bool, error) {
	var at sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT min(timeout) FROM tasks WHERE ended IS NULL`).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("next task timeout: %w", err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return fromNanos(at.Int64), true, nil
}

// endedAt is when o's attempt ended: the worker's own time when it gave
// one, else now.
func endedAt(o store.Outcome, now time.Time) time.Time {
	if o.Ended.IsZero() {
		return now
	}
	return o.Ended
}
