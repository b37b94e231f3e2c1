package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// defaultLease is the lease a claim gets when ClaimTasksParams.LeaseUntil
// is zero.
const defaultLease = 5 * time.Minute

// claimUpdate takes the batch with FOR UPDATE SKIP LOCKED: a task another
// transaction is claiming (or finishing, or cancelling) is passed over
// rather than waited for, so that dispatchers of many processes claim
// disjoint batches side by side.
const claimUpdate = `WITH picked AS (
		SELECT id AS picked_id FROM tasks
		WHERE queue = $4 AND status = 'pending' AND run_at <= $2 AND timeout > $2
		ORDER BY priority DESC, run_at, id
		LIMIT $5
		FOR UPDATE SKIP LOCKED)
	UPDATE tasks
	SET status = 'running', attempt = attempt + 1, worker_id = $1, started = $2, lease_until = $3,
		progress_done = 0, progress_total = 0, progress_msg = '', progress_at = NULL
	FROM picked WHERE id = picked_id
	RETURNING `

// ClaimTasks moves up to Limit due pending tasks of Queue to running; see
// store.Store. Besides MaxRunning it honours the queue's settings: a paused
// queue starts nothing, and a positive Concurrency caps its running tasks
// like MaxRunning; the claims of a capped queue take turns, so that
// processes claiming together cannot exceed the cap. Tasks already past
// their Timeout are left to the reaper. An empty Queue means "default"; a
// zero Now the current time; a zero LeaseUntil Now+5m. The tasks come
// back in claim order.
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
	err := s.write(ctx, func(tx pgx.Tx) error {
		limit, err := s.claimLimit(ctx, tx, queue, p.Limit, p.MaxRunning)
		if err != nil || limit <= 0 {
			out = nil
			return err
		}
		args := []any{p.WorkerID, toNanos(at), toNanos(lease), queue, limit}
		if p.Brief {
			out, err = queryAll(ctx, tx, briefClaimScanner(p.WorkerID, at, lease), claimUpdate+briefClaimColumns, args...)
		} else {
			out, err = queryAll(ctx, tx, scanTask, claimUpdate+taskColumns, args...)
		}
		if err != nil {
			return err
		}
		sort.Slice(out, func(i, j int) bool { return claimOrder(out[i], out[j]) })
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

// claimLimit is how many tasks a claim may start in queue now. When the
// queue is capped it takes the queue's claim lock first, which the
// transaction holds until it commits the claim.
func (s *Store) claimLimit(ctx context.Context, tx pgx.Tx, queue string, limit, maxRunning int) (int, error) {
	var (
		concurrency int
		paused      bool
	)
	err := tx.QueryRow(ctx, `SELECT concurrency, paused FROM queues WHERE name = $1`, queue).Scan(&concurrency, &paused)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
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
	if err := s.lockKey(ctx, tx, "claim "+queue); err != nil {
		return 0, err
	}
	var running int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE queue = $1 AND status = 'running'`, queue).Scan(&running); err != nil {
		return 0, fmt.Errorf("count running: %w", err)
	}
	return min(limit, capacity-running), nil
}

// ExtendLeases moves LeaseUntil forward for the leases still held, with
// one statement for the batch; see store.Store. The Status of a task that
// does not exist is empty.
func (s *Store) ExtendLeases(ctx context.Context, p *store.ExtendLeasesParams) ([]store.LeaseOutcome, error) {
	var out []store.LeaseOutcome
	err := s.write(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = updateLeases(ctx, tx, p.Leases, p.WorkerID, `lease_until = $4`, toNanos(p.LeaseUntil))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("extend %d leases: %w", len(p.Leases), err)
	}
	return out, nil
}

// MarkStarted records that attempts' handlers started, with one statement
// for the batch; see store.Store.
func (s *Store) MarkStarted(ctx context.Context, p *store.MarkStartedParams) ([]store.LeaseOutcome, error) {
	var out []store.LeaseOutcome
	err := s.write(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = markStarted(ctx, tx, p.Leases, p.WorkerID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mark %d attempts started: %w", len(p.Leases), err)
	}
	return out, nil
}

func markStarted(ctx context.Context, tx pgx.Tx, leases []store.Lease, workerID string) ([]store.LeaseOutcome, error) {
	return updateLeases(ctx, tx, leases, workerID, `began = t.attempt`)
}

// updateLeases applies set (an assignment list, whose further arguments
// are $4 on) to the running attempts named by leases (and claimed by
// workerID, when set), with one statement, and reports which it changed
// and the status of each task.
func updateLeases(ctx context.Context, tx pgx.Tx, leases []store.Lease, workerID, set string, args ...any) ([]store.LeaseOutcome, error) {
	if len(leases) == 0 {
		return nil, nil
	}
	ids := make([]string, len(leases))
	attempts := make([]int32, len(leases))
	for i, l := range leases {
		ids[i], attempts[i] = l.ID, int32(l.Attempt)
	}
	type row struct {
		status  string
		changed bool
	}
	got := make(map[store.Lease]row, len(leases))
	rows, err := tx.Query(ctx, `WITH l AS (
			SELECT DISTINCT id, attempt FROM unnest($1::text[], $2::int[]) AS l(id, attempt)
		), changed AS (
			UPDATE tasks t SET `+set+`
			FROM l WHERE t.id = l.id AND t.attempt = l.attempt AND t.status = 'running'
				AND ($3 = '' OR t.worker_id = $3)
			RETURNING t.id, t.attempt
		)
		SELECT l.id, l.attempt, coalesce(t.status, ''), c.id IS NOT NULL
		FROM l LEFT JOIN tasks t ON t.id = l.id
			LEFT JOIN changed c ON c.id = l.id AND c.attempt = l.attempt`,
		append([]any{ids, attempts, workerID}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			l store.Lease
			r row
		)
		if err := rows.Scan(&l.ID, &l.Attempt, &r.status, &r.changed); err != nil {
			return nil, err
		}
		got[l] = r
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]store.LeaseOutcome, len(leases))
	for i, l := range leases {
		r := got[l]
		out[i] = store.LeaseOutcome{Lease: l, Extended: r.changed, Status: loom.Status(r.status)}
	}
	return out, nil
}

// finishSQL applies outcomes given as one array per column to the tasks
// still running in that attempt (by that worker, when one is named), with
// one statement for the batch.
const finishSQL = `UPDATE tasks t
	SET status = v.status, result = v.result, msg = v.msg, output = v.output, ended = v.ended,
		run_at = coalesce(v.run_at, t.run_at), lease_until = NULL, attempt = t.attempt - v.back,
		started = coalesce(v.started, t.started)
	FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::int[],
		$10::bigint[], $11::text[])
		AS v(id, attempt, status, result, msg, output, ended, run_at, back, started, worker)
	WHERE t.id = v.id AND t.attempt = v.attempt AND t.status = 'running'
		AND (v.worker = '' OR t.worker_id = v.worker)
	RETURNING `

// FinishTasks records attempt outcomes; see store.Store. A completed
// outcome sets Result "complete", a failed one "error"; both set Ended to
// the outcome's Ended, or Now.
// A pending outcome puts the task back to wait until RetryAt (Now when
// zero), and announces its queue to ListenForWork; an Unstarted one also
// gives its attempt number back. An outcome for a task that does not
// exist has Applied=false and a nil Task.
func (s *Store) FinishTasks(ctx context.Context, p *store.FinishTasksParams) ([]store.FinishResult, error) {
	if len(p.Outcomes) == 0 {
		if len(p.Started) > 0 {
			_, err := s.MarkStarted(ctx, &store.MarkStartedParams{Leases: p.Started})
			return nil, err
		}
		return nil, nil
	}
	at := now(p.Now)
	var (
		ids, statuses, results, msgs []string
		outputs                      []*string
		attempts, backs              []int32
		endeds, runAts, starteds     []*int64
		workers                      []string
	)
	evs := make([]eventRow, len(p.Outcomes))
	// first[i] is false for an outcome whose task an earlier outcome of
	// the batch already names: only the first can apply.
	first := make([]bool, len(p.Outcomes))
	seen := make(map[string]bool, len(p.Outcomes))
	atNanos := toNanos(at)
	for i, o := range p.Outcomes {
		output, err := encodeMap(o.Output)
		if err != nil {
			return nil, fmt.Errorf("finish task %s: output: %w", o.ID, err)
		}
		ev := eventRow{taskID: o.ID, time: atNanos, attempt: o.Attempt, status: o.Status, msg: o.Msg}
		var (
			result       string
			ended, runAt *int64
		)
		switch o.Status {
		case loom.StatusCompleted:
			result, ended, ev.typ = string(loom.ResultComplete), endedAt(o, atNanos), eventCompleted
		case loom.StatusFailed:
			result, ended, ev.typ = string(loom.ResultError), endedAt(o, atNanos), eventFailed
		case loom.StatusPending:
			retryAt := o.RetryAt
			if retryAt.IsZero() {
				retryAt = at
			}
			n := toNanos(retryAt)
			runAt = &n
			ev.typ = eventRetrying
			ev.data = eventData(map[string]any{"retry_at": utc(retryAt).Format(time.RFC3339Nano)})
		default:
			return nil, fmt.Errorf("finish task %s: status %q is not completed, failed or pending: %w", o.ID, o.Status, store.ErrInvalid)
		}
		var back int32
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
		ids, attempts, statuses = append(ids, o.ID), append(attempts, int32(o.Attempt)), append(statuses, string(o.Status))
		results, msgs, outputs = append(results, result), append(msgs, o.Msg), append(outputs, output)
		endeds, runAts, backs = append(endeds, ended), append(runAts, runAt), append(backs, back)
		var started *int64
		if !o.Started.IsZero() {
			n := toNanos(o.Started)
			started = &n
		}
		starteds, workers = append(starteds, started), append(workers, o.WorkerID)
	}
	out := make([]store.FinishResult, len(p.Outcomes))
	err := s.write(ctx, func(tx pgx.Tx) error {
		if _, err := markStarted(ctx, tx, p.Started, ""); err != nil {
			return fmt.Errorf("mark started: %w", err)
		}
		q, scan := finishSQL+qualified("t", taskColumns), scanTask
		if p.Brief {
			q, scan = finishSQL+qualified("t", briefFinishColumns), scanBriefFinished
		}
		tasks, err := queryAll(ctx, tx, scan, q, ids, attempts, statuses, results, msgs, outputs, endeds, runAts, backs, starteds, workers)
		if err != nil {
			return err
		}
		updated := make(map[string]*loom.TaskInfo, len(tasks))
		for _, t := range tasks {
			updated[t.ID] = t
		}
		applied := make([]eventRow, 0, len(updated))
		var wake []string
		for i, o := range p.Outcomes {
			if t := updated[o.ID]; t != nil && first[i] {
				out[i] = store.FinishResult{Task: t, Applied: true}
				applied = append(applied, evs[i])
				if t.Status == loom.StatusPending {
					wake = append(wake, t.Queue)
				}
				continue
			}
			t, err := scanTask(tx.QueryRow(ctx, getTaskSQL, o.ID))
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("task %s: %w", o.ID, err)
			}
			out[i] = store.FinishResult{Task: t}
		}
		if err := s.appendEvents(ctx, tx, applied); err != nil {
			return err
		}
		return s.announce(ctx, tx, wake...)
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
// runs. Limit bounds both together; expiries go first. Tasks another
// transaction holds are passed over, for the next round. The queues of
// the tasks put back to pending are announced to ListenForWork.
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
	var res *store.ReapResult
	err := s.write(ctx, func(tx pgx.Tx) error {
		res = &store.ReapResult{}
		var err error
		res.Expired, err = scanTasks(tx.Query(ctx, `WITH picked AS (
				SELECT id AS picked_id FROM tasks
				WHERE ended IS NULL AND status IN ('pending', 'running') AND timeout <= $2
				ORDER BY timeout LIMIT $3
				FOR UPDATE SKIP LOCKED)
			UPDATE tasks SET status = 'failed', result = 'error', msg = $1, ended = $2, lease_until = NULL
			FROM picked WHERE id = picked_id
			RETURNING `+taskColumns, expiredMsg, at, limit))
		if err != nil {
			return fmt.Errorf("expire: %w", err)
		}
		sort.Slice(res.Expired, func(i, j int) bool {
			a, b := res.Expired[i], res.Expired[j]
			if !a.Timeout.Equal(b.Timeout) {
				return a.Timeout.Before(b.Timeout)
			}
			return a.ID < b.ID
		})
		evs := make([]eventRow, 0, len(res.Expired))
		for _, t := range res.Expired {
			evs = append(evs, eventRow{taskID: t.ID, typ: eventExpired, time: at, attempt: t.Attempt, status: t.Status, msg: expiredMsg})
		}
		if left := limit - len(res.Expired); left > 0 {
			lapsed, err := reapLapsed(ctx, tx, leaseAt, left, p.MaxLostRuns, res)
			if err != nil {
				return fmt.Errorf("requeue: %w", err)
			}
			evs = append(evs, lapsed...)
		}
		if err := s.appendEvents(ctx, tx, evs); err != nil {
			return err
		}
		wake := make([]string, len(res.Requeued))
		for i, t := range res.Requeued {
			wake[i] = t.Queue
		}
		return s.announce(ctx, tx, wake...)
	})
	if err != nil {
		return nil, fmt.Errorf("reap tasks: %w", err)
	}
	return res, nil
}

// lapsedTask is a running task whose lease lapsed, as the reaper finds it.
type lapsedTask struct {
	id       string
	attempt  int
	began    bool
	lostRuns int
	workerID string
}

// reapLapsed deals with up to limit running tasks whose lease lapsed at
// time at, locking them and passing over those another transaction
// holds: those whose attempt had not started go back to pending giving
// their attempt number back; those whose attempt had count a lost run,
// and fail once they have lost maxLost (if positive). It adds the tasks
// to res and returns their events.
func reapLapsed(ctx context.Context, tx pgx.Tx, at int64, limit, maxLost int, res *store.ReapResult) ([]eventRow, error) {
	found, err := queryAll(ctx, tx, func(sc scanner) (lapsedTask, error) {
		var l lapsedTask
		err := sc.Scan(&l.id, &l.attempt, &l.began, &l.lostRuns, &l.workerID)
		return l, err
	}, `SELECT id, attempt, began = attempt, lost_runs, worker_id FROM tasks
		WHERE status = 'running' AND lease_until <= $1
		ORDER BY lease_until, id LIMIT $2
		FOR UPDATE SKIP LOCKED`, at, limit)
	if err != nil || len(found) == 0 {
		return nil, err
	}
	var unstarted, lost, failed []string
	byID := make(map[string]lapsedTask, len(found))
	for _, l := range found {
		byID[l.id] = l
		res.Lapsed = append(res.Lapsed, store.Lease{ID: l.id, Attempt: l.attempt})
		switch {
		case !l.began:
			unstarted = append(unstarted, l.id)
		case maxLost > 0 && l.lostRuns+1 >= maxLost:
			failed = append(failed, l.id)
		default:
			lost = append(lost, l.id)
		}
	}
	// update changes the tasks ids (in the order found) with set, whose
	// further arguments are $2 on.
	update := func(ids []string, set string, args ...any) ([]*loom.TaskInfo, error) {
		if len(ids) == 0 {
			return nil, nil
		}
		tasks, err := queryAll(ctx, tx, scanTask, `UPDATE tasks SET `+set+`,
				lease_until = NULL, lease_expiries = lease_expiries + 1
			WHERE id = ANY($1::text[])
			RETURNING `+taskColumns, append([]any{ids}, args...)...)
		if err != nil {
			return nil, err
		}
		order := make(map[string]int, len(ids))
		for i, id := range ids {
			order[id] = i
		}
		sort.Slice(tasks, func(i, j int) bool { return order[tasks[i].ID] < order[tasks[j].ID] })
		return tasks, nil
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
	res.Lost, err = update(failed, `status = 'failed', result = 'error', msg = $2, ended = $3, lost_runs = lost_runs + 1`, failMsg, at)
	if err != nil {
		return nil, err
	}
	res.Requeued = append(res.Requeued, requeuedUnstarted...)
	res.Requeued = append(res.Requeued, requeuedLost...)
	evs := make([]eventRow, 0, len(found))
	for _, t := range requeuedUnstarted {
		l := byID[t.ID]
		evs = append(evs, eventRow{taskID: t.ID, typ: eventRequeued, time: at, attempt: l.attempt, status: t.Status,
			msg:  store.LapsedUnstartedMsg(l.attempt),
			data: eventData(map[string]any{"worker_id": l.workerID})})
	}
	for _, t := range requeuedLost {
		l := byID[t.ID]
		evs = append(evs, eventRow{taskID: t.ID, typ: eventRequeued, time: at, attempt: l.attempt, status: t.Status,
			msg: store.LostRunMsg(l.attempt, l.lostRuns+1, maxLost), data: eventData(map[string]any{"worker_id": l.workerID})})
	}
	for _, t := range res.Lost {
		l := byID[t.ID]
		evs = append(evs, eventRow{taskID: t.ID, typ: eventFailed, time: at, attempt: l.attempt, status: t.Status,
			msg: failMsg, data: eventData(map[string]any{"worker_id": l.workerID})})
	}
	return evs, nil
}

// NextRunAt returns the earliest RunAt among pending tasks of the queues
// (all queues when empty).
func (s *Store) NextRunAt(ctx context.Context, queues []string) (time.Time, bool, error) {
	q := `SELECT min(run_at) FROM tasks WHERE status = 'pending'`
	var args []any
	if len(queues) > 0 {
		q += ` AND queue = ANY($1::text[])`
		args = append(args, queues)
	}
	var at *int64
	if err := s.db().QueryRow(ctx, q, args...).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("next run time of queues %v: %w", queues, err)
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return fromNanos(*at), true, nil
}

// NextTimeout returns the earliest Timeout among tasks that have not ended.
func (s *Store) NextTimeout(ctx context.Context) (time.Time, bool, error) {
	var at *int64
	if err := s.db().QueryRow(ctx, `SELECT min(timeout) FROM tasks WHERE ended IS NULL`).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("next task timeout: %w", err)
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return fromNanos(*at), true, nil
}

// endedAt is when o's attempt ended, in nanoseconds: the worker's own time
// when it gave one, else now.
func endedAt(o store.Outcome, now int64) *int64 {
	if o.Ended.IsZero() {
		return &now
	}
	n := toNanos(o.Ended)
	return &n
}
