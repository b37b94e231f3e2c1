package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/schedule"
	"github.com/loomhq/loom/store"
)

var _ store.TaskmasterStore = (*Store)(nil)

const scheduleColumns = `name, def, task, cursor, backlog, last_fire, last_task_id, created, updated`

// CreateSchedule stores a new schedule; see store.TaskmasterStore.
func (s *Store) CreateSchedule(ctx context.Context, sc *store.Schedule) error {
	name := sc.Def.Name
	if name == "" {
		return fmt.Errorf("create schedule: empty name: %w", store.ErrInvalid)
	}
	def, task, err := encodeScheduleDef(sc)
	if err != nil {
		return fmt.Errorf("create schedule %s: %w", name, err)
	}
	created := now(sc.Created)
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO schedules (name, def, task, cursor, created, updated)
			VALUES (?, ?, ?, ?, ?, ?)`, name, def, task, zeroNanos(sc.Cursor), toNanos(created), toNanos(created))
		if isConstraint(err, 0) {
			return fmt.Errorf("%w: schedule %q", store.ErrDuplicate, name)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create schedule %s: %w", name, err)
	}
	return nil
}

// UpdateSchedule replaces a schedule's definition; see
// store.TaskmasterStore.
func (s *Store) UpdateSchedule(ctx context.Context, p *store.UpdateScheduleParams) (*store.Schedule, error) {
	name := p.Schedule.Def.Name
	def, task, err := encodeScheduleDef(p.Schedule)
	if err != nil {
		return nil, fmt.Errorf("update schedule %s: %w", name, err)
	}
	var out *store.Schedule
	err = s.write(ctx, func(tx *sql.Tx) error {
		q := `UPDATE schedules SET def = ?, task = ?, updated = ?`
		args := []any{def, task, toNanos(now(p.Now))}
		if !p.ResetCursor.IsZero() {
			q += `, cursor = ?, backlog = NULL`
			args = append(args, toNanos(p.ResetCursor))
		}
		res, err := tx.ExecContext(ctx, q+` WHERE name = ?`, append(args, name)...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("schedule %q: %w", name, store.ErrNotFound)
		}
		out, err = scanSchedule(tx.QueryRowContext(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE name = ?`, name))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update schedule %s: %w", name, err)
	}
	return out, nil
}

// GetSchedule returns one schedule, or ErrNotFound.
func (s *Store) GetSchedule(ctx context.Context, name string) (*store.Schedule, error) {
	var out *store.Schedule
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanSchedule(tx.QueryRowContext(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE name = ?`, name))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("schedule %q: %w", name, store.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get schedule: %w", err)
	}
	return out, nil
}

// ListSchedules returns every schedule, by name.
func (s *Store) ListSchedules(ctx context.Context) ([]*store.Schedule, error) {
	var out []*store.Schedule
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = queryAll(ctx, tx, scanSchedule, `SELECT `+scheduleColumns+` FROM schedules ORDER BY name`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	return out, nil
}

// DeleteSchedule forgets a schedule, or ErrNotFound.
func (s *Store) DeleteSchedule(ctx context.Context, name string) error {
	return s.deleteByName(ctx, "schedules", "schedule", name)
}

// AdvanceSchedule stores a decision's state; see store.TaskmasterStore.
func (s *Store) AdvanceSchedule(ctx context.Context, p *store.AdvanceScheduleParams) error {
	var backlog sql.NullString
	if len(p.Backlog) > 0 {
		b, err := json.Marshal(p.Backlog)
		if err != nil {
			return fmt.Errorf("advance schedule %s: encode backlog: %w", p.Name, err)
		}
		backlog = sql.NullString{String: string(b), Valid: true}
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE schedules SET cursor = max(cursor, ?), backlog = ? WHERE name = ?`,
			zeroNanos(p.Cursor), backlog, p.Name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("schedule %q: %w", p.Name, store.ErrNotFound)
		}
		if !p.LastFire.IsZero() {
			_, err = tx.ExecContext(ctx, `UPDATE schedules SET last_fire = ?, last_task_id = ?
				WHERE name = ? AND last_fire <= ?`, toNanos(p.LastFire), p.LastTaskID, p.Name, toNanos(p.LastFire))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("advance schedule %s: %w", p.Name, err)
	}
	return nil
}

// CountActive counts pending and running tasks whose idempotency key
// starts with prefix, through the unique index on the key.
func (s *Store) CountActive(ctx context.Context, keyPrefix string) (int, error) {
	if keyPrefix == "" {
		return 0, fmt.Errorf("count active: empty prefix: %w", store.ErrInvalid)
	}
	var n int
	err := s.read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM tasks
			WHERE idempotency_key >= ? AND idempotency_key < ? AND status IN (?, ?)`,
			keyPrefix, prefixEnd(keyPrefix), loom.StatusPending, loom.StatusRunning).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("count active %q: %w", keyPrefix, err)
	}
	return n, nil
}

// prefixEnd is the smallest string greater than every string starting
// with prefix (which must not end in 0xff bytes only).
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return prefix + strings.Repeat("\xff", 8)
}

func encodeScheduleDef(sc *store.Schedule) (def, task string, err error) {
	if def, err = encodeJSON(sc.Def); err != nil {
		return "", "", err
	}
	if task, err = encodeJSON(sc.Task); err != nil {
		return "", "", err
	}
	return def, task, nil
}

func scanSchedule(sc scanner) (*store.Schedule, error) {
	var (
		out              store.Schedule
		name, def, task  string
		cursor, lastFire int64
		created, updated int64
		backlog          sql.NullString
	)
	if err := sc.Scan(&name, &def, &task, &cursor, &backlog, &lastFire, &out.LastTaskID, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(def), &out.Def); err != nil {
		return nil, fmt.Errorf("schedule %s: decode definition: %w", name, err)
	}
	if err := json.Unmarshal([]byte(task), &out.Task); err != nil {
		return nil, fmt.Errorf("schedule %s: decode task: %w", name, err)
	}
	if backlog.Valid {
		var fires []schedule.Fire
		if err := json.Unmarshal([]byte(backlog.String), &fires); err != nil {
			return nil, fmt.Errorf("schedule %s: decode backlog: %w", name, err)
		}
		out.Backlog = fires
	}
	out.Def.Name = name
	out.Cursor = fromZeroNanos(cursor)
	out.LastFire = fromZeroNanos(lastFire)
	out.Created = fromNanos(created)
	out.Updated = fromNanos(updated)
	return &out, nil
}

// zeroNanos stores the zero time as 0, so that "never" survives a round
// trip.
func zeroNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromZeroNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return fromNanos(n)
}

// deleteByName deletes the row of table named name; what names the thing
// in errors.
func (s *Store) deleteByName(ctx context.Context, table, what, name string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%s %q: %w", what, name, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete %s: %w", what, err)
	}
	return nil
}

// getDef reads the JSON definition column of the row of table named name
// into v, or ErrNotFound.
func (s *Store) getDef(ctx context.Context, table, what, name string, v any) error {
	err := s.read(ctx, func(tx *sql.Tx) error {
		var def string
		err := tx.QueryRowContext(ctx, `SELECT def FROM `+table+` WHERE name = ?`, name).Scan(&def)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s %q: %w", what, name, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		return json.Unmarshal([]byte(def), v)
	})
	if err != nil {
		return fmt.Errorf("get %s: %w", what, err)
	}
	return nil
}

// listDefs reads every definition of table, by name, decoding each with
// add.
func (s *Store) listDefs(ctx context.Context, table, what string, add func(def []byte) error) error {
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT def FROM `+table+` ORDER BY name`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var def []byte
			if err := rows.Scan(&def); err != nil {
				return err
			}
			if err := add(def); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("list %s: %w", what, err)
	}
	return nil
}
