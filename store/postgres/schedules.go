package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/loomhq/loom/schedule"
	"github.com/loomhq/loom/store"
)

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
	_, err = s.db().Exec(ctx, `INSERT INTO schedules (name, def, task, cursor, created, updated)
		VALUES ($1, $2, $3, $4, $5, $5)`, name, def, task, zeroNanos(sc.Cursor), toNanos(created))
	if isCode(err, codeUniqueViolation) {
		return fmt.Errorf("create schedule %s: %w: schedule %q", name, store.ErrDuplicate, name)
	}
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
	q := `UPDATE schedules SET def = $1, task = $2, updated = $3`
	args := []any{def, task, toNanos(now(p.Now)), name}
	if !p.ResetCursor.IsZero() {
		q += `, cursor = $5, backlog = NULL`
		args = append(args, toNanos(p.ResetCursor))
	}
	out, err := scanSchedule(s.db().QueryRow(ctx, q+` WHERE name = $4 RETURNING `+scheduleColumns, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("update schedule %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("update schedule %s: %w", name, err)
	}
	return out, nil
}

// GetSchedule returns one schedule, or ErrNotFound.
func (s *Store) GetSchedule(ctx context.Context, name string) (*store.Schedule, error) {
	out, err := scanSchedule(s.db().QueryRow(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("get schedule: schedule %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get schedule %s: %w", name, err)
	}
	return out, nil
}

// ListSchedules returns every schedule, by name.
func (s *Store) ListSchedules(ctx context.Context) ([]*store.Schedule, error) {
	out, err := queryAll(ctx, s.db(), scanSchedule, `SELECT `+scheduleColumns+` FROM schedules ORDER BY name`)
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
	var backlog *string
	if len(p.Backlog) > 0 {
		b, err := json.Marshal(p.Backlog)
		if err != nil {
			return fmt.Errorf("advance schedule %s: encode backlog: %w", p.Name, err)
		}
		s := string(b)
		backlog = &s
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE schedules SET cursor = greatest(cursor, $1), backlog = $2 WHERE name = $3`,
			zeroNanos(p.Cursor), backlog, p.Name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("schedule %q: %w", p.Name, store.ErrNotFound)
		}
		if !p.LastFire.IsZero() {
			_, err = tx.Exec(ctx, `UPDATE schedules SET last_fire = $1, last_task_id = $2
				WHERE name = $3 AND last_fire <= $1`, toNanos(p.LastFire), p.LastTaskID, p.Name)
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
	err := s.db().QueryRow(ctx, `SELECT count(*) FROM tasks
		WHERE idempotency_key >= $1 AND idempotency_key < $2 AND status IN ('pending', 'running')`,
		keyPrefix, prefixEnd(keyPrefix)).Scan(&n)
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
		backlog          *string
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
	if backlog != nil {
		var fires []schedule.Fire
		if err := json.Unmarshal([]byte(*backlog), &fires); err != nil {
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
	tag, err := s.db().Exec(ctx, `DELETE FROM `+table+` WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("delete %s %q: %w", what, name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete %s: %s %q: %w", what, what, name, store.ErrNotFound)
	}
	return nil
}

// getDef reads the JSON definition column of the row of table named name
// into v, or ErrNotFound.
func (s *Store) getDef(ctx context.Context, table, what, name string, v any) error {
	var def []byte
	err := s.db().QueryRow(ctx, `SELECT def FROM `+table+` WHERE name = $1`, name).Scan(&def)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("get %s: %s %q: %w", what, what, name, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("get %s %q: %w", what, name, err)
	}
	if err := json.Unmarshal(def, v); err != nil {
		return fmt.Errorf("get %s %q: %w", what, name, err)
	}
	return nil
}

// listDefs reads every definition of table, by name, decoding each with
// add.
func (s *Store) listDefs(ctx context.Context, table, what string, add func(def []byte) error) error {
	rows, err := s.db().Query(ctx, `SELECT def FROM `+table+` ORDER BY name`)
	if err != nil {
		return fmt.Errorf("list %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		var def []byte
		if err := rows.Scan(&def); err != nil {
			return fmt.Errorf("list %s: %w", what, err)
		}
		if err := add(def); err != nil {
			return fmt.Errorf("list %s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list %s: %w", what, err)
	}
	return nil
}
