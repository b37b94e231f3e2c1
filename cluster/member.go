package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// Defaults of Config's zero fields.
const (
	// DefaultLease is how long a leader's lead lasts unless renewed:
	// how long the others wait for a dead leader before taking over.
	DefaultLease = 15 * time.Second
	// DefaultRole is the role whose leader runs the singleton work.
	DefaultRole = "singletons"
)

// ErrInvalid wraps the errors of a bad Config.
var ErrInvalid = errors.New("cluster: invalid config")

// Config configures a Member. Store is required; every zero value means
// the default stated on its field.
type Config struct {
	// Store keeps the servers and the lease. Required.
	Store store.ClusterStore
	// ID names this server among those sharing the database. Default
	// the hostname and Addr, which no other live server can share, so
	// that a server restarted after a crash is known again and need not
	// wait for the lease of its previous life to lapse (without Addr, the
	// hostname, the process id and a random suffix).
	ID string
	// Hostname is shown beside the server. Default os.Hostname().
	Hostname string
	// Addr is the address the server's API listens on, shown beside it.
	// Default empty.
	Addr string
	// Role is the role the servers elect a leader for. Default
	// DefaultRole.
	Role string
	// Lease is how long a lead lasts unless renewed; it is renewed every
	// third of it. Default DefaultLease (15s).
	Lease time.Duration
	// Clock is the source of time. Default loom.SystemClock.
	Clock loom.Clock
	// Logger receives the changes of leader and the store's errors.
	// Default slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
	}
	if c.ID == "" && c.Addr != "" {
		c.ID = c.Hostname + "/" + c.Addr
	}
	if c.ID == "" {
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		c.ID = fmt.Sprintf("%s-%d-%s", c.Hostname, os.Getpid(), hex.EncodeToString(b))
	}
	if c.Role == "" {
		c.Role = DefaultRole
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.Clock == nil {
		c.Clock = loom.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// minWait keeps a server whose clock runs a little behind the leader's
// from campaigning in a tight loop while it waits for a lease to lapse.
const minWait = 10 * time.Millisecond

// minLease keeps the renewals a few milliseconds apart at least.
const minLease = 30 * time.Millisecond

func (c Config) validate() error {
	switch {
	case c.Store == nil:
		return fmt.Errorf("%w: Config.Store is required", ErrInvalid)
	case c.Lease < minLease:
		return fmt.Errorf("%w: Config.Lease %s is under %s", ErrInvalid, c.Lease, minLease)
	}
	return nil
}

// Member is one server among those sharing a database: it keeps its
// heartbeat and campaigns for the lead. Its methods are safe for
// concurrent use.
type Member struct {
	cfg     Config
	st      store.ClusterStore
	clock   loom.Clock
	logger  *slog.Logger
	started time.Time

	// leading is true while the lead function runs under a live lease.
	leading atomic.Bool
	// ran makes Run refuse a second call.
	ran atomic.Bool
}

// New returns a Member configured by cfg. It does no I/O: Run joins.
func New(cfg Config) (*Member, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Member{cfg: cfg, st: cfg.Store, clock: cfg.Clock, logger: cfg.Logger, started: cfg.Clock.Now()}, nil
}

// ID is the server's id among those sharing the database.
func (m *Member) ID() string { return m.cfg.ID }

// Lease is the lease period in use.
func (m *Member) Lease() time.Duration { return m.cfg.Lease }

// Leading reports whether this server leads now: the lead function runs.
func (m *Member) Leading() bool { return m.leading.Load() }

// Run keeps the server's heartbeat and campaigns for the lead until ctx
// is done. Each time it wins, it calls lead in a goroutine with a context
// cancelled when the lead is lost (another server took it, or the lease
// could not be renewed in time) or ctx is done, and waits for lead to
// return before campaigning again, so that this server never runs two
// leads at once. It first resigns a lead its ID may hold from a previous
// life of the server. On the way out it resigns and forgets the server,
// so another takes over at once. It returns nil once stopped; it may be
// called once.
func (m *Member) Run(ctx context.Context, lead func(ctx context.Context)) error {
	if m.ran.Swap(true) {
		return errors.New("cluster: Run called twice")
	}
	if err := m.st.ResignLeader(ctx, m.cfg.Role, m.cfg.ID); err != nil && ctx.Err() == nil {
		m.logger.Error("cluster: resign a previous lead", "err", err)
	}
	renew := m.cfg.Lease / 3
	var (
		leadCancel context.CancelFunc
		leadDone   chan struct{}
		// deadline is when this server's lease lapses, as far as it
		// knows: the time before its last successful renewal plus the
		// lease.
		deadline time.Time
	)
	stepDown := func(why string, level slog.Level) {
		if leadCancel == nil {
			return
		}
		leadCancel()
		<-leadDone
		leadCancel, leadDone = nil, nil
		m.leading.Store(false)
		m.logger.Log(context.WithoutCancel(ctx), level, "cluster: no longer leading", "server", m.cfg.ID, "reason", why)
	}
	defer func() {
		// A clean shutdown hands the lead on: nothing to warn about.
		stepDown("shutting down", slog.LevelInfo)
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := m.st.ResignLeader(bg, m.cfg.Role, m.cfg.ID); err != nil {
			m.logger.Error("cluster: resign", "err", err)
		}
		if err := m.st.DeleteServer(bg, m.cfg.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			m.logger.Error("cluster: forget server", "err", err)
		}
	}()
	for ctx.Err() == nil {
		now := m.clock.Now()
		if err := m.st.UpsertServer(ctx, store.ServerInfo{ID: m.cfg.ID, Hostname: m.cfg.Hostname, Addr: m.cfg.Addr,
			Started: m.started, LastHeartbeat: now}); err != nil && ctx.Err() == nil {
			m.logger.Error("cluster: heartbeat", "err", err)
		}
		l, err := m.st.CampaignLeader(ctx, &store.CampaignLeaderParams{Role: m.cfg.Role, Holder: m.cfg.ID, Now: now, LeaseUntil: now.Add(m.cfg.Lease)})
		wait := renew
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			m.logger.Error("cluster: campaign", "err", err)
			// The lease may lapse before the next try: stop leading
			// while it surely holds.
			if leadCancel != nil && !m.clock.Now().Add(renew).Before(deadline) {
				stepDown("the lease could not be renewed", slog.LevelWarn)
			}
			if leadCancel != nil {
				wait = min(renew, deadline.Sub(m.clock.Now())/2)
			}
		case l.Leads(m.cfg.ID, m.clock.Now()):
			deadline = l.LeaseUntil
			if leadCancel == nil {
				m.logger.Info("cluster: leading", "server", m.cfg.ID, "since", l.Since, "term", l.Term)
				leadCancel, leadDone = m.startLead(ctx, lead)
			}
		default:
			stepDown("server "+l.Holder+" leads", slog.LevelWarn)
			// Look again right when the leader's lease would lapse.
			if until := l.LeaseUntil.Sub(m.clock.Now()); until < wait {
				wait = until
			}
		}
		if !m.sleep(ctx, max(wait, minWait)) {
			return nil
		}
	}
	return nil
}

// startLead runs lead in a goroutine under a context of its own, which
// the returned cancel ends; done closes when lead has returned.
func (m *Member) startLead(ctx context.Context, lead func(ctx context.Context)) (cancel context.CancelFunc, done chan struct{}) {
	leadCtx, cancel := context.WithCancel(ctx)
	done = make(chan struct{})
	m.leading.Store(true)
	go func() {
		defer close(done)
		lead(leadCtx)
	}()
	return cancel, done
}

// sleep waits for d on the clock or until ctx is done; it reports false
// when ctx is done.
func (m *Member) sleep(ctx context.Context, d time.Duration) bool {
	t := m.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// Status is what GET /api/v1/servers shows: the servers up, and which one
// leads since when.
type Status struct {
	// Self is the id of the server answering.
	Self string `json:"self"`
	// Lease is the lease period, in seconds.
	Lease float64 `json:"lease_seconds"`
	// Leader is the server leading now, nil when none does (the last
	// lease lapsed and nobody took it yet).
	Leader *store.Leader `json:"leader"`
	// Servers are the servers whose heartbeat is recent (within two
	// lease periods), by id.
	Servers []ServerStatus `json:"servers"`
}

// ServerStatus is one server as Status lists it.
type ServerStatus struct {
	store.ServerInfo
	// Leader says whether it leads; LeaderSince since when.
	Leader      bool       `json:"leader"`
	LeaderSince *time.Time `json:"leader_since,omitempty"`
}

// Status reads the servers up and the leader from the store.
func (m *Member) Status(ctx context.Context) (*Status, error) {
	now := m.clock.Now()
	servers, err := m.st.ListServers(ctx, now.Add(-2*m.cfg.Lease))
	if err != nil {
		return nil, fmt.Errorf("cluster status: %w", err)
	}
	st := &Status{Self: m.cfg.ID, Lease: m.cfg.Lease.Seconds(), Servers: make([]ServerStatus, 0, len(servers))}
	l, err := m.st.GetLeader(ctx, m.cfg.Role)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("cluster status: %w", err)
	case l.Leads(l.Holder, now):
		st.Leader = l
	}
	for _, s := range servers {
		ss := ServerStatus{ServerInfo: s}
		if st.Leader != nil && st.Leader.Holder == s.ID {
			ss.Leader, ss.LeaderSince = true, &st.Leader.Since
		}
		st.Servers = append(st.Servers, ss)
	}
	return st, nil
}
