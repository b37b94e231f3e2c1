package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
	var started *int64
	if !sv.Started.IsZero() {
		n := toNanos(sv.Started)
		started = &n
	}
	_, err := s.cluster.Exec(ctx, `INSERT INTO servers (id, hostname, addr, started, last_heartbeat)
		VALUES ($1, $2, $3, coalesce($4::bigint, $5::bigint), $5::bigint)
		ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, addr = excluded.addr,
			started = coalesce($4::bigint, servers.started), last_heartbeat = excluded.last_heartbeat`,
		sv.ID, sv.Hostname, sv.Addr, started, toNanos(beat))
	if err != nil {
		return fmt.Errorf("upsert server %s: %w", sv.ID, mapErr(err))
	}
	return nil
}

// ListServers returns the servers whose last heartbeat is at or after
// seenSince, by id.
func (s *Store) ListServers(ctx context.Context, seenSince time.Time) ([]store.ServerInfo, error) {
	out, err := queryAll(ctx, s.db(), func(sc scanner) (store.ServerInfo, error) {
		var (
			sv            store.ServerInfo
			started, beat int64
		)
		if err := sc.Scan(&sv.ID, &sv.Hostname, &sv.Addr, &started, &beat); err != nil {
			return sv, err
		}
		sv.Started, sv.LastHeartbeat = fromNanos(started), fromNanos(beat)
		return sv, nil
	}, `SELECT id, hostname, addr, started, last_heartbeat
		FROM servers WHERE last_heartbeat >= $1 ORDER BY id`, toNanos(seenSince))
	if err != nil {
		return nil, fmt.Errorf("list servers seen since %s: %w", seenSince, err)
	}
	return out, nil
}

// DeleteServer forgets a server; one that is not known is ErrNotFound.
func (s *Store) DeleteServer(ctx context.Context, id string) error {
	tag, err := s.db().Exec(ctx, `DELETE FROM servers WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete server %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete server %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// campaignSQL takes or renews a role's lease in one statement: the
// conflict clause's WHERE, evaluated on the row as it is once locked,
// leaves a live lease of another holder alone, so two campaigners never
// both win. A holder renewing a live lease keeps its term; anything else
// starts one.
const campaignSQL = `INSERT INTO leaders (role, holder, since, lease_until, term) VALUES ($1, $2, $3, $4, 1)
	ON CONFLICT (role) DO UPDATE SET
		since = CASE WHEN leaders.holder = excluded.holder AND leaders.lease_until > $3 THEN leaders.since ELSE $3 END,
		term = CASE WHEN leaders.holder = excluded.holder AND leaders.lease_until > $3 THEN leaders.term ELSE leaders.term + 1 END,
		holder = excluded.holder, lease_until = excluded.lease_until
	WHERE leaders.holder = excluded.holder OR leaders.lease_until <= $3`

// CampaignLeader takes the lead of p.Role for p.Holder unless another
// server holds a live lease on it, and returns the leader after the call.
func (s *Store) CampaignLeader(ctx context.Context, p *store.CampaignLeaderParams) (*store.Leader, error) {
	if err := store.ValidateCampaign(p); err != nil {
		return nil, err
	}
	// Read committed: the SELECT sees the row as the upsert left it, or
	// as the leader that kept it last wrote it.
	var l *store.Leader
	err := pgx.BeginTxFunc(ctx, s.cluster, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, campaignSQL, p.Role, p.Holder, toNanos(p.Now), toNanos(p.LeaseUntil)); err != nil {
			return err
		}
		var err error
		l, err = getLeader(ctx, tx, p.Role)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("campaign for %s as %s: %w", p.Role, p.Holder, mapErr(err))
	}
	return l, nil
}

// ResignLeader ends holder's lease on role, if it holds it.
func (s *Store) ResignLeader(ctx context.Context, role, holder string) error {
	_, err := s.cluster.Exec(ctx, `UPDATE leaders SET holder = '', lease_until = 0 WHERE role = $1 AND holder = $2`, role, holder)
	if err != nil {
		return fmt.Errorf("resign %s as %s: %w", role, holder, mapErr(err))
	}
	return nil
}

// GetLeader returns the recorded leader of role, or ErrNotFound.
func (s *Store) GetLeader(ctx context.Context, role string) (*store.Leader, error) {
	l, err := getLeader(ctx, s.pool, role)
	if err != nil {
		return nil, fmt.Errorf("get leader of %s: %w", role, err)
	}
	return l, nil
}

// rowQuerier is what getLeader reads through: the pool or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func getLeader(ctx context.Context, q rowQuerier, role string) (*store.Leader, error) {
	l := &store.Leader{Role: role}
	var since, until int64
	err := q.QueryRow(ctx, `SELECT holder, since, lease_until, term FROM leaders WHERE role = $1`, role).
		Scan(&l.Holder, &since, &until, &l.Term)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, mapErr(err)
	}
	l.Since, l.LeaseUntil = fromNanos(since), fromNanos(until)
	return l, nil
}
