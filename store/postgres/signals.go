package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/loomhq/loom/store"
)

// SendSignal records a signal and wakes the task if it waits pending; see
// store.TaskmasterStore. A task woken so has its queue announced to
// ListenForWork.
func (s *Store) SendSignal(ctx context.Context, p *store.SendSignalParams) (*store.Signal, error) {
	if p.TaskID == "" || p.Name == "" {
		return nil, fmt.Errorf("send signal: task id and name are required: %w", store.ErrInvalid)
	}
	at := now(p.Now).UTC()
	data, err := encodeMap(p.Data)
	if err != nil {
		return nil, fmt.Errorf("send signal %s to %s: %w", p.Name, p.TaskID, err)
	}
	err = s.write(ctx, func(tx pgx.Tx) error {
		if err := taskExists(ctx, tx, p.TaskID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO signals (task_id, name, data, time) VALUES ($1, $2, $3, $4)
			ON CONFLICT (task_id, name) DO UPDATE SET data = excluded.data, time = excluded.time`,
			p.TaskID, p.Name, data, toNanos(at)); err != nil {
			return err
		}
		woken, err := queryAll(ctx, tx, func(sc scanner) (string, error) {
			var q string
			return q, sc.Scan(&q)
		}, `UPDATE tasks SET run_at = $1 WHERE id = $2 AND status = 'pending' AND run_at > $1 RETURNING queue`,
			toNanos(at), p.TaskID)
		if err != nil {
			return err
		}
		if err := s.appendEvents(ctx, tx, []eventRow{{taskID: p.TaskID, typ: eventSignalled, time: toNanos(at), msg: p.Name, data: actorData(p.Actor)}}); err != nil {
			return err
		}
		return s.announce(ctx, tx, woken...)
	})
	if err != nil {
		return nil, fmt.Errorf("send signal %s to %s: %w", p.Name, p.TaskID, err)
	}
	return &store.Signal{TaskID: p.TaskID, Name: p.Name, Data: p.Data, Time: at}, nil
}

// GetSignal returns a signal sent to a task, or ErrNotFound.
func (s *Store) GetSignal(ctx context.Context, taskID, name string) (*store.Signal, error) {
	sig := store.Signal{TaskID: taskID, Name: name}
	var (
		data *string
		at   int64
	)
	err := s.db().QueryRow(ctx, `SELECT data, time FROM signals WHERE task_id = $1 AND name = $2`, taskID, name).Scan(&data, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("get signal: signal %q of task %s: %w", name, taskID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get signal %q of task %s: %w", name, taskID, err)
	}
	sig.Time = fromNanos(at)
	if sig.Data, err = decodeMap(data); err != nil {
		return nil, fmt.Errorf("get signal %q of task %s: %w", name, taskID, err)
	}
	return &sig, nil
}

// CreateBackfill stores a new backfill, or ErrDuplicate.
func (s *Store) CreateBackfill(ctx context.Context, b *store.Backfill) error {
	if b.ID == "" {
		return fmt.Errorf("create backfill: empty id: %w", store.ErrInvalid)
	}
	def, err := encodeJSON(b)
	if err != nil {
		return fmt.Errorf("create backfill %s: %w", b.ID, err)
	}
	_, err = s.db().Exec(ctx, `INSERT INTO backfills (id, def, started) VALUES ($1, $2, $3)`, b.ID, def, toNanos(now(b.Started)))
	if isCode(err, codeUniqueViolation) {
		return fmt.Errorf("create backfill %s: %w: backfill %q", b.ID, store.ErrDuplicate, b.ID)
	}
	if err != nil {
		return fmt.Errorf("create backfill %s: %w", b.ID, err)
	}
	return nil
}

// UpdateBackfill stores a backfill's progress, or ErrNotFound; a
// cancelled backfill stays as it is (ErrConflict).
func (s *Store) UpdateBackfill(ctx context.Context, b *store.Backfill) error {
	def, err := encodeJSON(b)
	if err != nil {
		return fmt.Errorf("update backfill %s: %w", b.ID, err)
	}
	err = s.write(ctx, func(tx pgx.Tx) error {
		cur, err := getBackfill(ctx, tx, b.ID, true)
		if err != nil {
			return err
		}
		if cur.Status == store.BackfillCancelled {
			return fmt.Errorf("backfill %q is cancelled: %w", b.ID, store.ErrConflict)
		}
		_, err = tx.Exec(ctx, `UPDATE backfills SET def = $1 WHERE id = $2`, def, b.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("update backfill: %w", err)
	}
	return nil
}

// CancelBackfill marks an unfinished backfill cancelled.
func (s *Store) CancelBackfill(ctx context.Context, id string, at time.Time) (*store.Backfill, error) {
	var b *store.Backfill
	err := s.write(ctx, func(tx pgx.Tx) error {
		var err error
		if b, err = getBackfill(ctx, tx, id, true); err != nil {
			return err
		}
		switch {
		case b.Status == store.BackfillCancelled:
			return nil
		case b.Done:
			return fmt.Errorf("backfill %q has finished: %w", id, store.ErrConflict)
		}
		end := now(at)
		b.Status, b.Done, b.Finished = store.BackfillCancelled, true, &end
		def, err := encodeJSON(b)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE backfills SET def = $1 WHERE id = $2`, def, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cancel backfill: %w", err)
	}
	return b, nil
}

// getBackfill reads one backfill, locking it for the rest of a write
// transaction when lock is set.
func getBackfill(ctx context.Context, db querier, id string, lock bool) (*store.Backfill, error) {
	q := `SELECT def FROM backfills WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	var def []byte
	err := db.QueryRow(ctx, q, id).Scan(&def)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("backfill %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var b store.Backfill
	if err := json.Unmarshal(def, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// GetBackfill returns one backfill, or ErrNotFound.
func (s *Store) GetBackfill(ctx context.Context, id string) (*store.Backfill, error) {
	b, err := getBackfill(ctx, s.db(), id, false)
	if err != nil {
		return nil, fmt.Errorf("get backfill: %w", err)
	}
	return b, nil
}

// ListBackfills returns backfills, newest first.
func (s *Store) ListBackfills(ctx context.Context) ([]*store.Backfill, error) {
	out, err := queryAll(ctx, s.db(), func(sc scanner) (*store.Backfill, error) {
		var def []byte
		if err := sc.Scan(&def); err != nil {
			return nil, err
		}
		var b store.Backfill
		return &b, json.Unmarshal(def, &b)
	}, `SELECT def FROM backfills ORDER BY started DESC, id DESC LIMIT 100`)
	if err != nil {
		return nil, fmt.Errorf("list backfills: %w", err)
	}
	return out, nil
}
