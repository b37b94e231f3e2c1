package taskmaster_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/taskmaster"
)

// elected returns an Elected Taskmaster over f's store that does not run.
func (f *fixture) elected(t *testing.T) *taskmaster.Taskmaster {
	t.Helper()
	tm, err := taskmaster.New(taskmaster.Config{Engine: f.eng, Store: f.st, Clock: f.clock, Logger: quiet(), Elected: true})
	require.NoError(t, err)
	return tm
}

// term runs tm as one term of lead; the returned func ends it.
func term(t *testing.T, tm *taskmaster.Taskmaster) (end func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tm.Run(ctx) }()
	ended := false
	end = func() {
		if !ended {
			ended = true
			cancel()
			require.NoError(t, <-done)
		}
	}
	t.Cleanup(end)
	return end
}

func TestElectedBackfillRunsOnTheLeader(t *testing.T) {
	t.Parallel()
	f := setup(t)
	follower, leader := f.elected(t), f.elected(t)
	f.daily(t, follower, "d")
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b, err := follower.StartBackfill(t.Context(), &store.Backfill{Schedule: "d", From: from, To: from.AddDate(0, 0, 3), Rate: 10})
	require.NoError(t, err)
	require.Equal(t, store.BackfillRunning, b.Status)
	require.Zero(t, follower.RunningBackfills(), "a server that does not lead leaves the backfill to the leader")
	require.Empty(t, f.runs(t, "d"))

	// The leader's first term finds it at once; the follower never runs it.
	end := term(t, leader)
	got := backfillWhere(t, leader, b.ID, func(b *store.Backfill) bool { return b.Done })
	require.Equal(t, 3, got.Created)
	end()

	// A second term of the same Taskmaster finds a backfill stored
	// meanwhile by another server within BackfillPoll.
	term(t, leader)
	b2, err := follower.StartBackfill(t.Context(), &store.Backfill{Schedule: "d", From: from.AddDate(0, 0, 3), To: from.AddDate(0, 0, 5), Rate: 10})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		f.clock.Advance(time.Second)
		got, err = leader.Backfill(t.Context(), b2.ID)
		require.NoError(t, err)
		return got.Done
	}, 30*time.Second, time.Millisecond)
	require.Equal(t, 2, got.Created)
	require.Len(t, f.runs(t, "d"), 5)
	require.Zero(t, follower.RunningBackfills())
}
