package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/loomhq/loom/store"
)

var _ store.ClusterStore = (*Store)(nil)

// UpsertServer records a server's presence and heartbeat. A zero Started
// keeps the Started first recorded (or LastHeartbeat for a new server); a
// zero LastHeartbeat means now.
func (s *Store) UpsertServer(ctx context.Context, sv store.ServerInfo) error {
	if sv.ID == "" {
		return fmt.Errorf("upsert server: empty id: %w", store.ErrInvalid)
	}
	beat := now(sv.LastHeartbeat)
	var started sql.NullInt64
	if !sv.Started.IsZero() {
		started = sql.NullInt64{Int64: toNanos(sv.Started), Valid: true}
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO servers (id, hostname, addr, started, last_heartbeat)
			VALUES (?1, ?2, ?3, coalesce(?4, ?5), ?5)
			ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, addr = excluded.addr,
				started = coalesce(?4, servers.started), last_heartbeat = excluded.last_heartbeat`,
			sv.ID, sv.Hostname, sv.Addr, started, toNanos(beat))
		return err
	})
	if err != nil {
		return fmt.Errorf("upsert server %s: %w", sv.ID, err)
	}
	return nil
}

// ListServers returns the servers whose last heartbeat is at or after
// seenSince, by id.
func (s *Store) ListServers(ctx context.Context, seenSince time.Time) ([]store.ServerInfo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, hostname, addr, started, last_heartbeat
		FROM servers WHERE last_heartbeat >= ? ORDER BY id`, toNanos(seenSince))
	if err != nil {
		return nil, fmt.Errorf("list servers seen since %s: %w", seenSince, err)
	}
	defer rows.Close()
	var out []store.ServerInfo
	for rows.Next() {
		var (
			sv            store.ServerInfo
			started, beat int64
		)
		if err := rows.Scan(&sv.ID, &sv.Hostname, &sv.Addr, &started, &beat); err != nil {
			return nil, fmt.Errorf("list servers: %w", err)
		}
		sv.Started, sv.LastHeartbeat = fromNanos(started), fromNanos(beat)
		out = append(out, sv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	return out, nil
}

// DeleteServer forgets a server; one that is not known is ErrNotFound.
func (s *Store) DeleteServer(ctx context.Context, id string) error {
	if err := s.deleteByID(ctx, "servers", id); err != nil {
		return fmt.Errorf("delete server %s: %w", id, err)
	}
	return nil
}

// deleteByID deletes the row of table (a name of this package's schema,
// never input) whose id is id, ErrNotFound when there is none.
func (s *Store) deleteByID(ctx context.Context, table, id string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

// campaignSQL takes or renews a role's lease in one statement: the
// conflict clause's WHERE leaves a live lease of another holder alone.
// A holder renewing a live lease keeps its term; anything else starts one.
const campaignSQL = `INSERT INTO leaders (role, holder, since, lease_until, term) VALUES (?1, ?2, ?3, ?4, 1)
	ON CONFLICT (role) DO UPDATE SET
		since = CASE WHEN leaders.holder = excluded.holder AND leaders.lease_until > ?3 THEN leaders.since ELSE ?3 END,
		term = CASE WHEN leaders.holder = excluded.holder AND leaders.lease_until > ?3 THEN leaders.term ELSE leaders.term + 1 END,
		holder = excluded.holder, lease_until = excluded.lease_until
	WHERE leaders.holder = excluded.holder OR leaders.lease_until <= ?3`

// CampaignLeader takes the lead of p.Role for p.Holder unless another
// server holds a live lease on it, and returns the leader after the call.
func (s *Store) CampaignLeader(ctx context.Context, p *store.CampaignLeaderParams) (*store.Leader, error) {
	if err := store.ValidateCampaign(p); err != nil {
		return nil, err
	}
	var l *store.Leader
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, campaignSQL, p.Role, p.Holder, toNanos(p.Now), toNanos(p.LeaseUntil)); err != nil {
			return err
		}
		var err error
		l, err = getLeader(ctx, tx, p.Role)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("campaign for %s as %s: %w", p.Role, p.Holder, err)
	}
	return l, nil
}

// ResignLeader ends holder's lease on role, if it holds it.
func (s *Store) ResignLeader(ctx context.Context, role, holder string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE leaders SET holder = '', lease_until = 0 WHERE role = ? AND holder = ?`, role, holder)
		return err
	})
	if err != nil {
		return fmt.Errorf("resign %s as %s: %w", role, holder, err)
	}
	return nil
}

// GetLeader returns the recorded leader of role, or ErrNotFound.
func (s *Store) GetLeader(ctx context.Context, role string) (*store.Leader, error) {
	var l *store.Leader
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		l, err = getLeader(ctx, tx, role)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get leader of %s: %w", role, err)
	}
	return l, nil
}

func getLeader(ctx context.Context, tx *sql.Tx, role string) (*store.Leader, error) {
	l := &store.Leader{Role: role}
	var since, until int64
	err := tx.QueryRowContext(ctx, `SELECT holder, since, lease_until, term FROM leaders WHERE role = ?`, role).
		Scan(&l.Holder, &since, &until, &l.Term)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	l.Since, l.LeaseUntil = fromNanos(since), fromNanos(until)
	return l, nil
}
