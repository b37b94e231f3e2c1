package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// The event types the Store appends.
const (
	eventCreated   = "created"
	eventStarted   = "started"
	eventCompleted = "completed"
	eventFailed    = "failed"
	eventRetrying  = "retrying"
	eventCancelled = "cancelled"
	eventRetried   = "retried"
	eventExpired   = "expired"
	eventRequeued  = "requeued"
	eventSignalled = "signalled"
	eventKeyFreed  = "key_released"
)

// eventRow is an event waiting to be appended.
type eventRow struct {
	taskID  string
	typ     string
	time    int64
	attempt int
	status  loom.Status
	msg     string
	data    *string
}

// insertEventsSQL appends a batch of events given as one array per
// column, numbered in the arrays' order.
const insertEventsSQL = `INSERT INTO task_events (task_id, type, time, attempt, status, msg, data)
	SELECT task_id, type, time, attempt, status, msg, data
	FROM unnest($1::text[], $2::text[], $3::bigint[], $4::int[], $5::text[], $6::text[], $7::text[])
		WITH ORDINALITY AS v(task_id, type, time, attempt, status, msg, data, ord)
	ORDER BY ord`

// appendEvents inserts evs in tx, in order, with one statement.
//
// Readers follow the log by sequence number (ListEvents' AfterSeq), so an
// event must never become visible after one numbered later: a cursor
// would skip it. Sequence numbers are handed out when rows are inserted
// but become visible when transactions commit, in whatever order they
// commit; so appendEvents takes the schema's event lock, which tx holds
// until it commits, and numbers and commits follow one order. The lock is
// taken last, after every row lock of tx (every write appends its events
// last), so that it never waits on a transaction that waits on it, and it
// is held only for the insert and the commit.
func (s *Store) appendEvents(ctx context.Context, tx pgx.Tx, evs []eventRow) error {
	if len(evs) == 0 {
		return nil
	}
	if err := s.lockKey(ctx, tx, "events"); err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	var (
		taskIDs, types, statuses, msgs = make([]string, len(evs)), make([]string, len(evs)), make([]string, len(evs)), make([]string, len(evs))
		times                          = make([]int64, len(evs))
		attempts                       = make([]int32, len(evs))
		data                           = make([]*string, len(evs))
	)
	for i, e := range evs {
		taskIDs[i], types[i], times[i], attempts[i] = e.taskID, e.typ, e.time, int32(e.attempt)
		statuses[i], msgs[i], data[i] = string(e.status), e.msg, e.data
	}
	if _, err := tx.Exec(ctx, insertEventsSQL, taskIDs, types, times, attempts, statuses, msgs, data); err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	return nil
}

// actorData is the data of an event someone asked for: {"actor": name},
// or none when nobody is named.
func actorData(actor string) *string {
	if actor == "" {
		return nil
	}
	return eventData(map[string]any{"actor": actor})
}

func eventData(m map[string]any) *string {
	if len(m) == 0 {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	s := string(b)
	return &s
}

// ListEvents returns events in the order they happened: a task's events
// when TaskID is set (ErrNotFound when the task does not exist), otherwise
// every task's, from AfterSeq on. Limit zero means no limit.
func (s *Store) ListEvents(ctx context.Context, p *store.ListEventsParams) ([]store.Event, error) {
	q := `SELECT seq, task_id, type, time, attempt, status, msg, data FROM task_events WHERE seq > $1`
	args := []any{p.AfterSeq}
	if p.TaskID != "" {
		args = append(args, p.TaskID)
		q += ` AND task_id = $` + strconv.Itoa(len(args))
	}
	q += ` ORDER BY seq`
	if p.Limit > 0 {
		args = append(args, p.Limit)
		q += ` LIMIT $` + strconv.Itoa(len(args))
	}
	var out []store.Event
	err := s.read(ctx, func(tx pgx.Tx) error {
		var err error
		if out, err = queryAll(ctx, tx, scanEvent, q, args...); err != nil {
			return err
		}
		if len(out) == 0 && p.TaskID != "" {
			return taskExists(ctx, tx, p.TaskID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list events of task %q after %d: %w", p.TaskID, p.AfterSeq, err)
	}
	return out, nil
}

// taskExists returns ErrNotFound when task id does not exist.
func taskExists(ctx context.Context, tx pgx.Tx, id string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM tasks WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("task %s: %w", id, store.ErrNotFound)
	}
	return err
}

// scanEvent reads one row of a task_events query.
func scanEvent(sc scanner) (store.Event, error) {
	var (
		e      store.Event
		tm     int64
		status string
		data   *string
	)
	if err := sc.Scan(&e.Seq, &e.TaskID, &e.Type, &tm, &e.Attempt, &status, &e.Msg, &data); err != nil {
		return e, err
	}
	e.Time, e.Status = fromNanos(tm), loom.Status(status)
	var err error
	e.Data, err = decodeMap(data)
	return e, err
}
