package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom/store"
)

var workerTests = []test{
	{"UpsertListDelete", func(t *testing.T, s store.Store) {
		w1 := store.WorkerInfo{ID: "w1", Hostname: "host-a", Queues: []string{"default", "emails"}, Started: base, LastHeartbeat: base, Running: []string{"t1"},
			Concurrency: 8, InFlight: 1, Version: "v1.2.3"}
		w2 := store.WorkerInfo{ID: "w2", Hostname: "host-b", Queues: []string{"default"}, Started: base, LastHeartbeat: at(-time.Hour), Running: []string{}}
		require.NoError(t, s.UpsertWorker(ctx(t), w1))
		require.NoError(t, s.UpsertWorker(ctx(t), w2))
		require.ErrorIs(t, s.UpsertWorker(ctx(t), store.WorkerInfo{}), store.ErrInvalid)

		got, err := s.ListWorkers(ctx(t), at(-time.Minute))
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, "w1", got[0].ID)
		require.Equal(t, "host-a", got[0].Hostname)
		require.Equal(t, []string{"default", "emails"}, got[0].Queues)
		require.Equal(t, []string{"t1"}, got[0].Running)
		require.Equal(t, 8, got[0].Concurrency)
		require.Equal(t, 1, got[0].InFlight)
		require.Equal(t, "v1.2.3", got[0].Version)
		requireTime(t, base, got[0].Started, "Started")
		requireTime(t, base, got[0].LastHeartbeat, "LastHeartbeat")

		w2.LastHeartbeat, w2.Running, w2.InFlight = at(time.Minute), []string{"t2", "t3"}, 2
		require.NoError(t, s.UpsertWorker(ctx(t), w2))
		got, err = s.ListWorkers(ctx(t), at(-time.Minute))
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, "w2", got[1].ID)
		require.Equal(t, []string{"t2", "t3"}, got[1].Running)
		require.Equal(t, 2, got[1].InFlight)
		require.Equal(t, 0, got[1].Concurrency)
		requireTime(t, at(time.Minute), got[1].LastHeartbeat, "LastHeartbeat")

		require.NoError(t, s.DeleteWorker(ctx(t), "w1"))
		require.ErrorIs(t, s.DeleteWorker(ctx(t), "w1"), store.ErrNotFound)
		got, err = s.ListWorkers(ctx(t), time.Time{})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, "w2", got[0].ID)
	}},
}
