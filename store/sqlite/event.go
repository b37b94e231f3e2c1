package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

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
	data    sql.NullString
}

var insertEvents = newBatched(
	`INSERT INTO task_events (task_id, type, time, attempt, status, msg, data) VALUES `, `(?,?,?,?,?,?,?)`, ``)

// insertAlikeEvents inserts events that differ only in task and attempt:
// the shared type, time, status, msg and data are ?1 to ?5, and each row
// binds two values instead of seven. Binding costs about as much as
// inserting.
var insertAlikeEvents = newBatched(
	`INSERT INTO task_events (task_id, type, time, attempt, status, msg, data)
	SELECT column1, ?1, ?2, column2, ?3, ?4, ?5 FROM (VALUES `, `(?,?)`, `)`)

// alike reports whether e and f differ at most in task and attempt.
func (e *eventRow) alike(f *eventRow) bool {
	return e.typ == f.typ && e.time == f.time && e.status == f.status && e.msg == f.msg && e.data == f.data
}

// appendEvents inserts evs in tx, in order. The events of a batch are
// often alike (every claim's, and those of a batch of completions): they
// go in with insertAlikeEvents.
func (s *Store) appendEvents(ctx context.Context, tx *sql.Tx, evs []eventRow) error {
	if len(evs) > 1 && allAlike(evs) {
		return s.appendAlikeEvents(ctx, tx, evs)
	}
	args := make([]any, 0, 7*min(len(evs), maxChunk))
	for _, n := range chunkSizes(len(evs)) {
		st, err := s.wstmt(ctx, tx, insertEvents.sql(n))
		if err != nil {
			return fmt.Errorf("append events: %w", err)
		}
		args = args[:0]
		for _, e := range evs[:n] {
			args = append(args, e.taskID, e.typ, e.time, e.attempt, string(e.status), e.msg, e.data)
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("append events: %w", err)
		}
		evs = evs[n:]
	}
	return nil
}

// allAlike reports whether every event of evs is alike the first.
func allAlike(evs []eventRow) bool {
	for i := range evs {
		if !evs[0].alike(&evs[i]) {
			return false
		}
	}
	return true
}

// appendAlikeEvents inserts evs, which are all alike, in tx, in order.
func (s *Store) appendAlikeEvents(ctx context.Context, tx *sql.Tx, evs []eventRow) error {
	e := evs[0]
	args := make([]any, 0, 5+2*min(len(evs), maxChunk))
	for _, n := range chunkSizes(len(evs)) {
		st, err := s.wstmt(ctx, tx, insertAlikeEvents.sql(n))
		if err != nil {
			return fmt.Errorf("append events: %w", err)
		}
		args = append(args[:0], e.typ, e.time, string(e.status), e.msg, e.data)
		for _, e := range evs[:n] {
			args = append(args, e.taskID, e.attempt)
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("append events: %w", err)
		}
		evs = evs[n:]
	}
	return nil
}

// actorData is the data of an event someone asked for: {"actor": name},
// or none when nobody is named.
func actorData(actor string) sql.NullString {
	if actor == "" {
		return sql.NullString{}
	}
	return eventData(map[string]any{"actor": actor})
}

func eventData(m map[string]any) sql.NullString {
	if len(m) == 0 {
		return sql.NullString{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return sql.NullString{}
	}
	return sql.NullString{String: string(b), Valid: true}
}

// ListEvents returns events in the order they happened: a task's events
// when TaskID is set (ErrNotFound when the task does not exist), otherwise
// every task's, from AfterSeq on. Limit zero means no limit.
func (s *Store) ListEvents(ctx context.Context, p *store.ListEventsParams) ([]store.Event, error) {
	q := `SELECT seq, task_id, type, time, attempt, status, msg, data FROM task_events WHERE seq > ?`
	args := []any{p.AfterSeq}
	if p.TaskID != "" {
		q += ` AND task_id = ?`
		args = append(args, p.TaskID)
	}
	q += ` ORDER BY seq`
	if p.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, p.Limit)
	}
	var out []store.Event
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		if out, err = queryAll(ctx, tx, scanEvent, q, args...); err != nil {
			return err
		}
		if len(out) == 0 && p.TaskID != "" {
			return s.taskExists(ctx, tx, p.TaskID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list events of task %q after %d: %w", p.TaskID, p.AfterSeq, err)
	}
	return out, nil
}

// taskExists returns ErrNotFound when task id does not exist.
func (s *Store) taskExists(ctx context.Context, tx *sql.Tx, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM tasks WHERE id = ?`, id).Scan(&one)
	if err == sql.ErrNoRows {
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
		data   sql.NullString
	)
	if err := sc.Scan(&e.Seq, &e.TaskID, &e.Type, &tm, &e.Attempt, &status, &e.Msg, &data); err != nil {
		return e, err
	}
	e.Time, e.Status = fromNanos(tm), loom.Status(status)
	var err error
	e.Data, err = decodeMap(data)
	return e, err
}
