package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// SendSignal records a signal and wakes the task if it waits pending; see
// store.TaskmasterStore.
func (s *Store) SendSignal(ctx context.Context, p *store.SendSignalParams) (*store.Signal, error) {
	if p.TaskID == "" || p.Name == "" {
		return nil, fmt.Errorf("send signal: task id and name are required: %w", store.ErrInvalid)
	}
	at := now(p.Now).UTC()
	data, err := encodeMap(p.Data)
	if err != nil {
		return nil, fmt.Errorf("send signal %s to %s: %w", p.Name, p.TaskID, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		if err := s.taskExists(ctx, tx, p.TaskID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO signals (task_id, name, data, time) VALUES (?, ?, ?, ?)
			ON CONFLICT (task_id, name) DO UPDATE SET data = excluded.data, time = excluded.time`,
			p.TaskID, p.Name, data, toNanos(at)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tasks SET run_at = ? WHERE id = ? AND status = ? AND run_at > ?`,
			toNanos(at), p.TaskID, loom.StatusPending, toNanos(at)); err != nil {
			return err
		}
		return s.appendEvents(ctx, tx, []eventRow{{taskID: p.TaskID, typ: eventSignalled, time: toNanos(at), msg: p.Name, data: actorData(p.Actor)}})
	})
	if err != nil {
		return nil, fmt.Errorf("send signal %s to %s: %w", p.Name, p.TaskID, err)
	}
	return &store.Signal{TaskID: p.TaskID, Name: p.Name, Data: p.Data, Time: at}, nil
}

// GetSignal returns a signal sent to a task, or ErrNotFound.
func (s *Store) GetSignal(ctx context.Context, taskID, name string) (*store.Signal, error) {
	sig := store.Signal{TaskID: taskID, Name: name}
	err := s.read(ctx, func(tx *sql.Tx) error {
		var (
			data sql.NullString
			at   int64
		)
		err := tx.QueryRowContext(ctx, `SELECT data, time FROM signals WHERE task_id = ? AND name = ?`, taskID, name).Scan(&data, &at)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("signal %q of task %s: %w", name, taskID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		sig.Time = fromNanos(at)
		sig.Data, err = decodeMap(data)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get signal: %w", err)
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
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO backfills (id, def, started) VALUES (?, ?, ?)`, b.ID, def, toNanos(now(b.Started)))
		if isConstraint(err, 0) {
			return fmt.Errorf("%w: backfill %q", store.ErrDuplicate, b.ID)
		}
		return err
	})
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
	err = s.write(ctx, func(tx *sql.Tx) error {
		cur, err := getBackfill(ctx, tx, b.ID)
		if err != nil {
			return err
		}
		if cur.Status == store.BackfillCancelled {
			return fmt.Errorf("backfill %q is cancelled: %w", b.ID, store.ErrConflict)
		}
		_, err = tx.ExecContext(ctx, `UPDATE backfills SET def = ? WHERE id = ?`, def, b.ID)
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if b, err = getBackfill(ctx, tx, id); err != nil {
			return err
		}
		switch {
		case b.Status == store.BackfillCancelled:
			return nil
		case b.Done:
			return fmt.Errorf("backfill %q has finished: %w", id, store.ErrConflict)
		}
		at = now(at)
		b.Status, b.Done, b.Finished = store.BackfillCancelled, true, &at
		def, err := encodeJSON(b)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE backfills SET def = ? WHERE id = ?`, def, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cancel backfill: %w", err)
	}
	return b, nil
}

// getBackfill reads one backfill inside tx.
func getBackfill(ctx context.Context, tx *sql.Tx, id string) (*store.Backfill, error) {
	var def []byte
	err := tx.QueryRowContext(ctx, `SELECT def FROM backfills WHERE id = ?`, id).Scan(&def)
	if errors.Is(err, sql.ErrNoRows) {
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
	var b *store.Backfill
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		b, err = getBackfill(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get backfill: %w", err)
	}
	return b, nil
}

// ListBackfills returns backfills, newest first.
func (s *Store) ListBackfills(ctx context.Context) ([]*store.Backfill, error) {
	var out []*store.Backfill
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = queryAll(ctx, tx, func(sc scanner) (*store.Backfill, error) {
			var def []byte
			if err := sc.Scan(&def); err != nil {
				return nil, err
			}
			var b store.Backfill
			return &b, json.Unmarshal(def, &b)
		}, `SELECT def FROM backfills ORDER BY started DESC, id DESC LIMIT 100`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list backfills: %w", err)
	}
	return out, nil
}
