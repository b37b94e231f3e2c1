package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

var queueTests = []test{
	{"UpsertList", func(t *testing.T, s store.Store) {
		queues, err := s.ListQueues(ctx(t))
		require.NoError(t, err)
		require.Empty(t, queues)

		require.NoError(t, s.UpsertQueue(ctx(t), store.QueueConfig{Name: "emails", Concurrency: 4}))
		require.NoError(t, s.UpsertQueue(ctx(t), store.QueueConfig{Name: "idle", Paused: true}))
		require.NoError(t, s.UpsertQueue(ctx(t), store.QueueConfig{Name: "idle", Concurrency: 2, Paused: true}))
		require.ErrorIs(t, s.UpsertQueue(ctx(t), store.QueueConfig{}), store.ErrInvalid)

		tasks := insertN(t, s, 5, "emails")
		insertN(t, s, 1, "")
		claimed := claim(t, s, "emails", 4, base)
		finish(t, s, base,
			store.Outcome{ID: claimed[0].ID, Attempt: 1, Status: loom.StatusCompleted},
			store.Outcome{ID: claimed[1].ID, Attempt: 1, Status: loom.StatusFailed})
		_, err = s.CancelTask(ctx(t), &store.CancelTaskParams{ID: claimed[2].ID, Now: base})
		require.NoError(t, err)
		_ = tasks

		queues, err = s.ListQueues(ctx(t))
		require.NoError(t, err)
		require.Equal(t, []store.QueueInfo{
			{QueueConfig: store.QueueConfig{Name: "default"}, Pending: 1},
			{QueueConfig: store.QueueConfig{Name: "emails", Concurrency: 4}, Pending: 1, Running: 1, Completed: 1, Failed: 1, Cancelled: 1},
			{QueueConfig: store.QueueConfig{Name: "idle", Concurrency: 2, Paused: true}},
		}, queues)
	}},
}
