package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// ClusterStore is a Store that also keeps servers and leaders, which is
// what RunCluster checks.
type ClusterStore interface {
	store.Store
	store.ClusterStore
}

// RunCluster runs the conformance suite of store.ClusterStore against the
// store newStore returns, under the same rules as Run.
//
// Beyond the interface's documentation it expects errors matching
// store.ErrNotFound and store.ErrInvalid, times read back equal to those
// written, and a task inserted with an idempotency key taken by a task
// inserted at the same time from elsewhere to be that task: two leaders
// overlapping across a handover fire a schedule's run once.
func RunCluster(t *testing.T, newStore func(t *testing.T) ClusterStore) {
	t.Helper()
	for _, tc := range clusterTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newStore(t))
		})
	}
}

var clusterTests = []struct {
	name string
	run  func(t *testing.T, s ClusterStore)
}{
	{"Servers", func(t *testing.T, s ClusterStore) {
		a := store.ServerInfo{ID: "a", Hostname: "host-a", Addr: "10.0.0.1:7070", Started: base, LastHeartbeat: base}
		b := store.ServerInfo{ID: "b", Hostname: "host-b", Addr: "10.0.0.2:7070", LastHeartbeat: at(-time.Hour)}
		require.NoError(t, s.UpsertServer(ctx(t), a))
		require.NoError(t, s.UpsertServer(ctx(t), b))
		require.ErrorIs(t, s.UpsertServer(ctx(t), store.ServerInfo{}), store.ErrInvalid)

		got, err := s.ListServers(ctx(t), at(-time.Minute))
		require.NoError(t, err)
		require.Len(t, got, 1, "a server not seen since is left out")
		require.Equal(t, "a", got[0].ID)
		require.Equal(t, "host-a", got[0].Hostname)
		require.Equal(t, "10.0.0.1:7070", got[0].Addr)
		requireTime(t, base, got[0].Started, "Started")

		// A heartbeat without Started keeps the first one.
		b.LastHeartbeat = at(time.Minute)
		require.NoError(t, s.UpsertServer(ctx(t), b))
		got, err = s.ListServers(ctx(t), at(-time.Minute))
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, "b", got[1].ID)
		requireTime(t, at(-time.Hour), got[1].Started, "Started of a server first seen without one")
		requireTime(t, at(time.Minute), got[1].LastHeartbeat, "LastHeartbeat")

		require.NoError(t, s.DeleteServer(ctx(t), "a"))
		require.ErrorIs(t, s.DeleteServer(ctx(t), "a"), store.ErrNotFound)
		got, err = s.ListServers(ctx(t), time.Time{})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, "b", got[0].ID)
	}},
	{"LeaderLease", func(t *testing.T, s ClusterStore) {
		const role = "singletons"
		campaign := func(holder string, now time.Duration) *store.Leader {
			t.Helper()
			l, err := s.CampaignLeader(ctx(t), &store.CampaignLeaderParams{Role: role, Holder: holder, Now: at(now), LeaseUntil: at(now + 10*time.Second)})
			require.NoError(t, err)
			return l
		}
		_, err := s.GetLeader(ctx(t), role)
		require.ErrorIs(t, err, store.ErrNotFound)

		l := campaign("a", 0)
		require.Equal(t, "a", l.Holder, "the first campaigner wins")
		require.Equal(t, int64(1), l.Term)
		requireTime(t, at(0), l.Since, "Since")
		requireTime(t, at(10*time.Second), l.LeaseUntil, "LeaseUntil")
		require.True(t, l.Leads("a", at(9*time.Second)))
		require.False(t, l.Leads("a", at(10*time.Second)), "a lease lapses at the instant it names")
		require.False(t, l.Leads("b", at(0)))

		l = campaign("b", 5*time.Second)
		require.Equal(t, "a", l.Holder, "a live lease is not taken")
		requireTime(t, at(10*time.Second), l.LeaseUntil, "LeaseUntil left alone")

		l = campaign("a", 8*time.Second)
		require.Equal(t, "a", l.Holder)
		require.Equal(t, int64(1), l.Term, "a renewal keeps the term")
		requireTime(t, at(0), l.Since, "a renewal keeps Since")
		requireTime(t, at(18*time.Second), l.LeaseUntil, "LeaseUntil renewed")

		// a dies: its lease lapses at 18s, and b takes the lead then.
		l = campaign("b", 18*time.Second-time.Nanosecond)
		require.Equal(t, "a", l.Holder)
		l = campaign("b", 18*time.Second)
		require.Equal(t, "b", l.Holder, "a lapsed lease goes to the next campaigner")
		require.Equal(t, int64(2), l.Term)
		requireTime(t, at(18*time.Second), l.Since, "Since of a new term")
		got, err := s.GetLeader(ctx(t), role)
		require.NoError(t, err)
		require.Equal(t, *l, *got)

		// a comes back and finds b leading.
		l = campaign("a", 20*time.Second)
		require.Equal(t, "b", l.Holder)

		// b resigns: a takes over at once, in a new term.
		require.NoError(t, s.ResignLeader(ctx(t), role, "a"), "resigning a lead not held does nothing")
		l, err = s.GetLeader(ctx(t), role)
		require.NoError(t, err)
		require.Equal(t, "b", l.Holder)
		require.NoError(t, s.ResignLeader(ctx(t), role, "b"))
		l, err = s.GetLeader(ctx(t), role)
		require.NoError(t, err)
		require.Equal(t, "", l.Holder)
		require.False(t, l.Leads("b", at(21*time.Second)))
		l = campaign("a", 21*time.Second)
		require.Equal(t, "a", l.Holder)
		require.Equal(t, int64(3), l.Term)
		requireTime(t, at(21*time.Second), l.Since, "Since")

		// A leader whose own lease lapsed starts a new term when it wins
		// again: it was not leading in between.
		l = campaign("a", 40*time.Second)
		require.Equal(t, "a", l.Holder)
		require.Equal(t, int64(4), l.Term)
		requireTime(t, at(40*time.Second), l.Since, "Since after a lapse")

		// Roles are independent.
		other, err := s.CampaignLeader(ctx(t), &store.CampaignLeaderParams{Role: "other", Holder: "b", Now: at(40 * time.Second), LeaseUntil: at(time.Minute)})
		require.NoError(t, err)
		require.Equal(t, "b", other.Holder)
		require.Equal(t, int64(1), other.Term)

		for _, p := range []store.CampaignLeaderParams{
			{Holder: "a", Now: base, LeaseUntil: at(time.Second)},
			{Role: role, Now: base, LeaseUntil: at(time.Second)},
			{Role: role, Holder: "a", Now: base, LeaseUntil: base},
		} {
			_, err := s.CampaignLeader(ctx(t), &p)
			require.ErrorIs(t, err, store.ErrInvalid, "%+v", p)
		}
	}},
	{"OneWinnerAtOnce", func(t *testing.T, s ClusterStore) {
		// Servers racing for a role nobody leads, or whose lease lapsed:
		// exactly one wins each round, and every campaigner learns who.
		const n = 8
		for round := range 3 {
			now := at(time.Duration(round) * time.Minute)
			var wg sync.WaitGroup
			leaders := make([]*store.Leader, n)
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					leaders[i], errs[i] = s.CampaignLeader(ctx(t), &store.CampaignLeaderParams{
						Role: "race", Holder: fmt.Sprintf("s%d", i), Now: now, LeaseUntil: now.Add(30 * time.Second),
					})
				})
			}
			wg.Wait()
			winners := map[string]bool{}
			for i := range n {
				require.NoError(t, errs[i])
				if leaders[i].Holder == fmt.Sprintf("s%d", i) {
					winners[leaders[i].Holder] = true
				}
			}
			require.Len(t, winners, 1, "round %d: one winner", round)
			got, err := s.GetLeader(ctx(t), "race")
			require.NoError(t, err)
			require.True(t, winners[got.Holder])
			require.Equal(t, int64(round+1), got.Term)
		}
	}},
	{"FireOnceAcrossLeaders", func(t *testing.T, s ClusterStore) {
		// The old and the new leader both fire the same scheduled run,
		// at once: one task is created, and both are told which.
		const n = 6
		for fire := range 5 {
			key := fmt.Sprintf("schedule:every-second@2026-03-01T12:00:%02dZ", fire)
			var wg sync.WaitGroup
			res := make([][]store.InsertResult, n)
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					res[i], errs[i] = s.InsertTasks(ctx(t), &store.InsertTasksParams{Now: base,
						Tasks: []*loom.TaskInfo{{Type: "tick", IdempotencyKey: key}}})
				})
			}
			wg.Wait()
			created := 0
			for i := range n {
				require.NoError(t, errs[i])
				require.Len(t, res[i], 1)
				require.Equal(t, res[0][0].Task.ID, res[i][0].Task.ID, "every leader is given the one task")
				if !res[i][0].Existing {
					created++
				}
			}
			require.Equal(t, 1, created, "fire %d created once", fire)
		}
		page, err := s.ListTasks(ctx(t), &store.ListTasksParams{KeyPrefix: "schedule:every-second@"})
		require.NoError(t, err)
		require.Len(t, page.Tasks, 5)
	}},
}
