package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/loomhq/loom/store"
)

const checkColumns = `name, period, grace, last_ping, pings, created`

// CreateCheck stores a new heartbeat check, or ErrDuplicate.
func (s *Store) CreateCheck(ctx context.Context, c *store.Check) error {
	if c.Name == "" || c.Period <= 0 || c.Grace < 0 {
		return fmt.Errorf("create check %q: a name, a positive period and a grace >= 0 are required: %w", c.Name, store.ErrInvalid)
	}
	c.Created = now(c.Created).UTC()
	_, err := s.db().Exec(ctx, `INSERT INTO checks (name, period, grace, last_ping, pings, created) VALUES ($1, $2, $3, $4, 0, $5)`,
		c.Name, int64(c.Period), int64(c.Grace), nullNanos(c.LastPing), toNanos(c.Created))
	if isCode(err, codeUniqueViolation) {
		return fmt.Errorf("create check %s: %w: check %q", c.Name, store.ErrDuplicate, c.Name)
	}
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
	return s.checkRow(ctx, "update check", c.Name, `UPDATE checks SET period = $2, grace = $3 WHERE name = $1 RETURNING `+checkColumns,
		c.Name, int64(c.Period), int64(c.Grace))
}

// GetCheck returns one check, or ErrNotFound.
func (s *Store) GetCheck(ctx context.Context, name string) (*store.Check, error) {
	return s.checkRow(ctx, "get check", name, `SELECT `+checkColumns+` FROM checks WHERE name = $1`, name)
}

// checkRow runs a statement answering one row of checkColumns for check
// name, or ErrNotFound.
func (s *Store) checkRow(ctx context.Context, what, name, q string, args ...any) (*store.Check, error) {
	out, err := scanCheck(s.db().QueryRow(ctx, q, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%s: check %q: %w", what, name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, name, err)
	}
	return out, nil
}

// ListChecks returns every check, by name.
func (s *Store) ListChecks(ctx context.Context) ([]*store.Check, error) {
	out, err := queryAll(ctx, s.db(), scanCheck, `SELECT `+checkColumns+` FROM checks ORDER BY name`)
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
	return s.checkRow(ctx, "ping check", name, `UPDATE checks SET last_ping = greatest(coalesce(last_ping, 0), $2), pings = pings + 1
		WHERE name = $1 RETURNING `+checkColumns, name, toNanos(now(at)))
}

func scanCheck(sc scanner) (*store.Check, error) {
	var (
		c             store.Check
		period, grace int64
		lastPing      *int64
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
