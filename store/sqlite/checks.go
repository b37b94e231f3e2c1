package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/loomhq/loom/store"
)

const checkColumns = `name, period, grace, last_ping, pings, created`

// CreateCheck stores a new heartbeat check, or ErrDuplicate.
func (s *Store) CreateCheck(ctx context.Context, c *store.Check) error {
	if c.Name == "" || c.Period <= 0 || c.Grace < 0 {
		return fmt.Errorf("create check %q: a name, a positive period and a grace >= 0 are required: %w", c.Name, store.ErrInvalid)
	}
	c.Created = now(c.Created).UTC()
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO checks (name, period, grace, last_ping, pings, created) VALUES (?, ?, ?, ?, 0, ?)`,
			c.Name, int64(c.Period), int64(c.Grace), nullNanos(c.LastPing), toNanos(c.Created))
		if isConstraint(err, 0) {
			return fmt.Errorf("%w: check %q", store.ErrDuplicate, c.Name)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create check %s: %w", c.Name, err)
	}
	return nil
}

// UpdateCheck changes a check's period and grace, or ErrNotFound.
func (s *Store) UpdateCheck(ctx context.Context, c *store.Check) (*store.Check, error) {
	if c.Period <= 0 || c.Grace < 0 {
		return nil, fmt.Errorf("update check %q: a positive period and a grace >= 0 are required: %w", c.Name, store.ErrInvalid)
	}
	var out *store.Check
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE checks SET period = ?, grace = ? WHERE name = ?`, int64(c.Period), int64(c.Grace), c.Name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("check %q: %w", c.Name, store.ErrNotFound)
		}
		out, err = scanCheck(tx.QueryRowContext(ctx, `SELECT `+checkColumns+` FROM checks WHERE name = ?`, c.Name))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update check: %w", err)
	}
	return out, nil
}

// GetCheck returns one check, or ErrNotFound.
func (s *Store) GetCheck(ctx context.Context, name string) (*store.Check, error) {
	var out *store.Check
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanCheck(tx.QueryRowContext(ctx, `SELECT `+checkColumns+` FROM checks WHERE name = ?`, name))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("check %q: %w", name, store.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get check: %w", err)
	}
	return out, nil
}

// ListChecks returns every check, by name.
func (s *Store) ListChecks(ctx context.Context) ([]*store.Check, error) {
	var out []*store.Check
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = queryAll(ctx, tx, scanCheck, `SELECT `+checkColumns+` FROM checks ORDER BY name`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list checks: %w", err)
	}
	return out, nil
}

// DeleteCheck forgets a check, or ErrNotFound.
func (s *Store) DeleteCheck(ctx context.Context, name string) error {
	return s.deleteByName(ctx, "checks", "check", name)
}

// PingCheck records a ping; see store.TaskmasterStore.
func (s *Store) PingCheck(ctx context.Context, name string, at time.Time) (*store.Check, error) {
	at = now(at)
	var out *store.Check
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE checks SET last_ping = max(coalesce(last_ping, 0), ?), pings = pings + 1
			WHERE name = ?`, toNanos(at), name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("check %q: %w", name, store.ErrNotFound)
		}
		out, err = scanCheck(tx.QueryRowContext(ctx, `SELECT `+checkColumns+` FROM checks WHERE name = ?`, name))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ping check: %w", err)
	}
	return out, nil
}

func scanCheck(sc scanner) (*store.Check, error) {
	var (
		c             store.Check
		period, grace int64
		lastPing      sql.NullInt64
		created       int64
	)
	if err := sc.Scan(&c.Name, &period, &grace, &lastPing, &c.Pings, &created); err != nil {
		return nil, err
	}
	c.Period, c.Grace = time.Duration(period), time.Duration(grace)
	c.LastPing = ptrTime(lastPing)
	c.Created = fromNanos(created)
	return &c, nil
}
