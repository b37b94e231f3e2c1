package engine_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/loomtest"
	"github.com/loomhq/loom/store"
)

// hiddenStats hides a store's StatsStore, so that Engine.Stats reads tasks.
type hiddenStats struct{ store.Store }

// TestStatsFastPathMatchesTasks checks that a store's own TaskStats and
// the engine's summary from the task list agree.
func TestStatsFastPathMatchesTasks(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	_, ok := st.(engine.StatsStore)
	require.True(t, ok, "the SQLite store implements StatsStore")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	statuses := []loom.Status{loom.StatusCompleted, loom.StatusFailed, loom.StatusCancelled, loom.StatusPending, loom.StatusRunning}
	var tasks []*loom.TaskInfo
	for i := range 500 {
		created := now.Add(-time.Duration(i) * 9 * time.Second)
		tk := &loom.TaskInfo{Type: "job", Queue: []string{"a", "b"}[i%2], Created: created, RunAt: created, Status: statuses[i%len(statuses)]}
		if tk.Status.Terminal() {
			ended := created.Add(time.Duration(i%7) * 20 * time.Second)
			tk.Ended = &ended
		}
		tasks = append(tasks, tk)
	}
	_, err := st.InsertTasks(context.Background(), &store.InsertTasksParams{Tasks: tasks, Now: now})
	require.NoError(t, err)

	clock := loomtest.NewFakeClock(now)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	fast, err := engine.New(engine.Config{Store: st, Clock: clock, Logger: logger})
	require.NoError(t, err)
	slow, err := engine.New(engine.Config{Store: hiddenStats{st}, Clock: clock, Logger: logger})
	require.NoError(t, err)
	for _, p := range []engine.StatsParams{
		{},
		{Since: now.Add(-15 * time.Minute), Bucket: 15 * time.Minute, Queue: "a"},
		{Since: now.Add(-30 * time.Minute), Bucket: time.Minute, Queue: "b"},
	} {
		want, err := slow.Stats(t.Context(), &p)
		require.NoError(t, err)
		require.False(t, want.Truncated)
		got, err := fast.Stats(t.Context(), &p)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}
