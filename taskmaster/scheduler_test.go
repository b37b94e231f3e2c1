package taskmaster_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/schedule"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/taskmaster"
)

func TestEnsureScheduleKeepsState(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tm, stop := f.start(t)
	sc := func(jitter time.Duration) *store.Schedule {
		return &store.Schedule{
			Def:  schedule.Schedule{Name: "e", Cron: "@every 10s", Overlap: schedule.OverlapAllow, Jitter: jitter},
			Task: store.TaskTemplate{Type: "job", Input: loom.Values{"n": 1}},
		}
	}
	info, changed, err := tm.EnsureSchedule(t.Context(), sc(0))
	require.NoError(t, err)
	require.True(t, changed)
	created := info.Created
	f.clock.Advance(10 * time.Second)
	f.waitRuns(t, "e", 1)
	require.Eventually(t, func() bool {
		info, err = tm.Schedule(t.Context(), "e")
		require.NoError(t, err)
		return info.LastTaskID != ""
	}, 5*time.Second, time.Millisecond)
	_, err = tm.SetPaused(t.Context(), "e", true)
	require.NoError(t, err)
	stop()

	// A restart re-applies the same declaration: nothing is written, the
	// pause stands, no run repeats.
	tm, _ = f.start(t)
	again, changed, err := tm.EnsureSchedule(t.Context(), sc(0))
	require.NoError(t, err)
	require.False(t, changed)
	require.True(t, again.Def.Paused)
	require.Equal(t, created, again.Created)
	require.Equal(t, info.LastTaskID, again.LastTaskID)

	// A changed declaration updates the definition and keeps the state.
	updated, changed, err := tm.EnsureSchedule(t.Context(), sc(time.Second))
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, time.Second, updated.Def.Jitter)
	require.True(t, updated.Def.Paused)
	require.Equal(t, info.Cursor, updated.Cursor)
	require.Len(t, f.runs(t, "e"), 1)

	// A schedule of that name for another type is not taken over.
	other := sc(0)
	other.Task.Type = "nope"
	_, _, err = tm.EnsureSchedule(t.Context(), other)
	require.ErrorIs(t, err, taskmaster.ErrInvalid) // not a registered type
	require.NoError(t, f.eng.Register(loom.NewTask("other", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) { return nil, nil }))))
	other.Task.Type = "other"
	_, _, err = tm.EnsureSchedule(t.Context(), other)
	require.ErrorIs(t, err, store.ErrDuplicate)
}
