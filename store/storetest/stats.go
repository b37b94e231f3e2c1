package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

var statsTests = []test{
	{"Buckets", func(t *testing.T, s store.Store) {
		ss, ok := s.(store.StatsStore)
		if !ok {
			t.Skip("the store does not implement store.StatsStore")
		}
		ended := func(d time.Duration) *time.Time { e := at(d); return &e }
		task := func(queue string, created time.Duration, status loom.Status, end *time.Time) *loom.TaskInfo {
			return &loom.TaskInfo{Type: "job", Queue: queue, Created: at(created), RunAt: at(created), Status: status, Ended: end}
		}
		insert(t, s,
			task("a", -2*time.Hour, loom.StatusCompleted, ended(time.Minute)), // created before the window
			task("a", 0, loom.StatusPending, nil),                             // created at Since: excluded
			task("a", time.Second, loom.StatusCompleted, ended(time.Minute+time.Second)),
			task("b", time.Second, loom.StatusFailed, ended(2*time.Minute)),
			task("a", time.Minute, loom.StatusCancelled, ended(2*time.Minute+time.Second)),
			task("a", time.Minute, loom.StatusRunning, nil),
			task("b", 2*time.Minute, loom.StatusCompleted, ended(5*time.Minute)), // ends after the window
			task("a", 4*time.Minute, loom.StatusPending, nil),                    // created after the window
		)
		st, err := ss.TaskStats(ctx(t), &store.StatsParams{Since: base, Until: at(2*time.Minute + 30*time.Second), Bucket: time.Minute, Limit: 5000})
		require.NoError(t, err)
		require.False(t, st.Truncated)
		requireTime(t, base, st.Since, "Since")
		require.Equal(t, time.Minute, st.Bucket)
		require.Len(t, st.Buckets, 3)
		for i, b := range st.Buckets {
			requireTime(t, at(time.Duration(i)*time.Minute), b.Start, "Start")
			st.Buckets[i].Start = time.Time{}
		}
		require.Equal(t, []store.StatsBucket{
			{Created: 2},
			{Created: 2, Completed: 1},
			{Created: 1, Failed: 1, Cancelled: 1},
		}, st.Buckets)

		st, err = ss.TaskStats(ctx(t), &store.StatsParams{Since: base, Until: at(2*time.Minute + 30*time.Second), Bucket: time.Minute, Queue: "b", Limit: 5000})
		require.NoError(t, err)
		for i := range st.Buckets {
			st.Buckets[i].Start = time.Time{}
		}
		require.Equal(t, []store.StatsBucket{{Created: 1}, {}, {Created: 1, Failed: 1}}, st.Buckets)
	}},
}
