package cluster_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom/cluster"
	"github.com/loomhq/loom/loomtest"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/sqlite"
)

// cutStore is a store whose database can be cut off, as from a server
// that lost its network.
type cutStore struct {
	store.ClusterStore
	cut atomic.Bool
}

var errCut = errors.New("database unreachable")

func (c *cutStore) UpsertServer(ctx context.Context, s store.ServerInfo) error {
	if c.cut.Load() {
		return errCut
	}
	return c.ClusterStore.UpsertServer(ctx, s)
}

func (c *cutStore) CampaignLeader(ctx context.Context, p *store.CampaignLeaderParams) (*store.Leader, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	return c.ClusterStore.CampaignLeader(ctx, p)
}

func (c *cutStore) ResignLeader(ctx context.Context, role, holder string) error {
	if c.cut.Load() {
		return errCut
	}
	return c.ClusterStore.ResignLeader(ctx, role, holder)
}

func (c *cutStore) DeleteServer(ctx context.Context, id string) error {
	if c.cut.Load() {
		return errCut
	}
	return c.ClusterStore.DeleteServer(ctx, id)
}

type fixture struct {
	t     *testing.T
	st    *sqlite.Store
	clock *loomtest.FakeClock
	// leads counts the lead functions running, most the most at once.
	leads, most atomic.Int32
}

func setup(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "loom.db")})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return &fixture{t: t, st: st, clock: loomtest.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))}
}

const lease = 3 * time.Second

// start runs a member until stop is called (or the test ends).
func (f *fixture) start(st store.ClusterStore, id string) (m *cluster.Member, stop func()) {
	f.t.Helper()
	m, err := cluster.New(cluster.Config{Store: st, ID: id, Addr: id + ":7070", Lease: lease, Clock: f.clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(f.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- m.Run(ctx, func(ctx context.Context) {
			n := f.leads.Add(1)
			for {
				most := f.most.Load()
				if n <= most || f.most.CompareAndSwap(most, n) {
					break
				}
			}
			<-ctx.Done()
			f.leads.Add(-1)
		})
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			require.NoError(f.t, <-done)
		}
	}
	f.t.Cleanup(stop)
	return m, stop
}

// settle waits until n members sleep on the clock.
func (f *fixture) settle(n int) {
	f.t.Helper()
	require.NoError(f.t, f.clock.WaitForTimers(f.t.Context(), n))
}

func (f *fixture) leader() *store.Leader {
	f.t.Helper()
	l, err := f.st.GetLeader(f.t.Context(), cluster.DefaultRole)
	require.NoError(f.t, err)
	return l
}

func TestOneLeaderAndHandover(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cutA := &cutStore{ClusterStore: f.st}
	a, _ := f.start(cutA, "a")
	f.settle(1)
	require.True(t, a.Leading(), "the first server leads")
	b, stopB := f.start(f.st, "b")
	f.settle(2)
	require.False(t, b.Leading())

	st, err := b.Status(t.Context())
	require.NoError(t, err)
	require.Equal(t, "b", st.Self)
	require.Len(t, st.Servers, 2)
	require.Equal(t, "a", st.Leader.Holder)
	require.True(t, st.Servers[0].Leader)
	require.Equal(t, "a:7070", st.Servers[0].Addr)
	require.False(t, st.Servers[1].Leader)

	// The leader renews its lease, period after period.
	for range 10 {
		require.True(t, f.clock.AdvanceToNext())
		f.settle(2)
		require.True(t, a.Leading())
		require.False(t, b.Leading())
	}
	require.Equal(t, int64(1), f.leader().Term)

	// a loses the database: it stops leading before its lease lapses,
	// and b takes over the instant it does.
	cutA.cut.Store(true)
	lapse := f.leader().LeaseUntil
	var stoppedAt time.Time
	for !b.Leading() {
		require.True(t, f.clock.AdvanceToNext())
		f.settle(2)
		if stoppedAt.IsZero() && !a.Leading() {
			stoppedAt = f.clock.Now()
		}
	}
	require.False(t, stoppedAt.IsZero())
	require.True(t, stoppedAt.Before(lapse), "a stopped at %s, before its lease lapsed at %s", stoppedAt, lapse)
	l := f.leader()
	require.Equal(t, "b", l.Holder)
	require.Equal(t, int64(2), l.Term)
	require.True(t, l.Since.Equal(lapse), "b took over at %s, when a's lease lapsed at %s", l.Since, lapse)

	// a comes back and follows.
	cutA.cut.Store(false)
	for range 5 {
		require.True(t, f.clock.AdvanceToNext())
		f.settle(2)
		require.False(t, a.Leading())
		require.True(t, b.Leading())
	}

	// b shuts down cleanly: it resigns, and a leads at its next look,
	// well before b's lease would have lapsed.
	resignedAt := f.clock.Now()
	stopB()
	f.settle(1)
	require.True(t, f.clock.AdvanceToNext())
	f.settle(1)
	require.True(t, a.Leading())
	l = f.leader()
	require.Equal(t, "a", l.Holder)
	require.Equal(t, int64(3), l.Term)
	require.Less(t, l.Since.Sub(resignedAt), lease)
	st, err = a.Status(t.Context())
	require.NoError(t, err)
	require.Len(t, st.Servers, 1, "a server that shut down is forgotten")

	require.Equal(t, int32(1), f.most.Load(), "never two leads at once")
}

func TestRestartedServerLeadsAtOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cut := &cutStore{ClusterStore: f.st}
	a, stop := f.start(cut, "a")
	f.settle(1)
	require.True(t, a.Leading())
	// It dies without a word: its lease stays in the database.
	cut.cut.Store(true)
	stop()
	require.True(t, f.clock.Now().Before(f.leader().LeaseUntil))
	// Back under the same id, it need not wait for that lease to lapse.
	a, _ = f.start(f.st, "a")
	f.settle(1)
	require.True(t, a.Leading())
	l := f.leader()
	require.Equal(t, int64(2), l.Term, "a new life is a new term")
	require.True(t, l.Since.Equal(f.clock.Now()))
}

func TestConfig(t *testing.T) {
	t.Parallel()
	_, err := cluster.New(cluster.Config{})
	require.ErrorIs(t, err, cluster.ErrInvalid)
	f := setup(t)
	_, err = cluster.New(cluster.Config{Store: f.st, Lease: time.Millisecond})
	require.ErrorIs(t, err, cluster.ErrInvalid)
	m, err := cluster.New(cluster.Config{Store: f.st})
	require.NoError(t, err)
	require.NotEmpty(t, m.ID())
	host, err := os.Hostname()
	require.NoError(t, err)
	m, err = cluster.New(cluster.Config{Store: f.st, Addr: "10.0.0.1:7070"})
	require.NoError(t, err)
	require.Equal(t, host+"/10.0.0.1:7070", m.ID(), "a server's id is its host and address")
	require.Equal(t, cluster.DefaultLease, m.Lease())
	require.False(t, m.Leading())
}
