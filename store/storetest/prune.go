package storetest

import (
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
	"github.com/stretchr/testify/require"
)

var pruneTests = []test{
	{"deletes ended tasks with their steps, logs and events, oldest first", func(t *testing.T, s store.Store) {
		// old: a flow ended an hour in, its step with it; recent: ended
		// later; live: a flow that has not ended.
		old := insert(t, s, &loom.TaskInfo{Type: "flow", Queue: "q"})[0]
		oldStep := insert(t, s, &loom.TaskInfo{Type: "step", ParentID: old.ID, Step: "a", Queue: "q"})[0]
		recent := insert(t, s, &loom.TaskInfo{Type: "job", Queue: "q"})[0]
		live := insert(t, s, &loom.TaskInfo{Type: "flow", Queue: "q"})[0]
		insert(t, s, &loom.TaskInfo{Type: "step", ParentID: live.ID, Step: "a", Queue: "q"})
		require.NoError(t, s.AppendLogs(ctx(t), []store.LogChunk{{TaskID: oldStep.ID, Attempt: 1, Time: base, Data: "out\n"}}))
		_, err := s.CancelTask(ctx(t), &store.CancelTaskParams{ID: old.ID, Now: at(time.Hour)})
		require.NoError(t, err)
		_, err = s.CancelTask(ctx(t), &store.CancelTaskParams{ID: recent.ID, Now: at(3 * time.Hour)})
		require.NoError(t, err)

		// Nothing ended before the cut-off.
		n, err := s.PruneTasks(ctx(t), &store.PruneTasksParams{EndedBefore: at(time.Hour)})
		require.NoError(t, err)
		require.Zero(t, n)
		n, err = s.PruneTasks(ctx(t), &store.PruneTasksParams{EndedBefore: at(2 * time.Hour)})
		require.NoError(t, err)
		require.Equal(t, 2, n, "the old flow and its step")
		for _, id := range []string{old.ID, oldStep.ID} {
			_, err := s.GetTask(ctx(t), id)
			require.ErrorIs(t, err, store.ErrNotFound)
		}
		// A deleted task has no log: asking for it is not found.
		_, err = s.GetLogs(ctx(t), &store.GetLogsParams{TaskID: oldStep.ID})
		require.ErrorIs(t, err, store.ErrNotFound)
		get(t, s, recent.ID)
		get(t, s, live.ID)
		// The queue's counts lose what was deleted.
		qs, err := s.ListQueues(ctx(t))
		require.NoError(t, err)
		for _, q := range qs {
			if q.Name == "q" {
				require.Equal(t, 1, q.Cancelled, "cancelled tasks left in q")
				require.Equal(t, 2, q.Pending, "pending tasks left in q")
			}
		}
		// The limit bounds one call; the live flow is never pruned.
		n, err = s.PruneTasks(ctx(t), &store.PruneTasksParams{EndedBefore: at(24 * time.Hour), Limit: 1})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		n, err = s.PruneTasks(ctx(t), &store.PruneTasksParams{EndedBefore: at(24 * time.Hour)})
		require.NoError(t, err)
		require.Zero(t, n)
		get(t, s, live.ID)
	}},
	{"keeps a flow whose step has not ended, and honours queues", func(t *testing.T, s store.Store) {
		a := insert(t, s, &loom.TaskInfo{Type: "job", Queue: "a"})[0]
		b := insert(t, s, &loom.TaskInfo{Type: "job", Queue: "b"})[0]
		for _, id := range []string{a.ID, b.ID} {
			_, err := s.CancelTask(ctx(t), &store.CancelTaskParams{ID: id, Now: at(time.Minute)})
			require.NoError(t, err)
		}
		n, err := s.PruneTasks(ctx(t), &store.PruneTasksParams{EndedBefore: at(time.Hour), Except: []string{"a", "b"}})
		require.NoError(t, err)
		require.Zero(t, n)
		n, err = s.PruneTasks(ctx(t), &store.PruneTasksParams{EndedBefore: at(time.Hour), Queue: "b"})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		get(t, s, a.ID)
		_, err = s.PruneTasks(ctx(t), &store.PruneTasksParams{EndedBefore: at(time.Hour), Limit: store.MaxPruneLimit + 1})
		require.ErrorIs(t, err, store.ErrInvalid)
		_, err = s.PruneTasks(ctx(t), &store.PruneTasksParams{})
		require.ErrorIs(t, err, store.ErrInvalid)
	}},
}
