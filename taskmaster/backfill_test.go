package taskmaster_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom/schedule"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/taskmaster"
)

// daily stores a daily schedule named name.
func (f *fixture) daily(t *testing.T, tm *taskmaster.Taskmaster, name string) {
	t.Helper()
	_, err := tm.CreateSchedule(t.Context(), &store.Schedule{
		Def: schedule.Schedule{Name: name, Cron: "0 3 * * *"}, Task: store.TaskTemplate{Type: "job"},
	})
	require.NoError(t, err)
}

// backfillWhere waits until backfill id satisfies ok, without moving the
// clock.
func backfillWhere(t *testing.T, tm *taskmaster.Taskmaster, id string, ok func(*store.Backfill) bool) *store.Backfill {
	t.Helper()
	var b *store.Backfill
	require.Eventually(t, func() bool {
		var err error
		b, err = tm.Backfill(t.Context(), id)
		require.NoError(t, err)
		return ok(b)
	}, 30*time.Second, time.Millisecond)
	return b
}

func TestBackfillLimits(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tm, _ := f.start(t)
	f.daily(t, tm, "d")
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		b    store.Backfill
		want string
	}{
		{"huge rate", store.Backfill{Schedule: "d", From: from, To: from.AddDate(0, 0, 3), Rate: 1_000_000_000}, "rate 1000000000 is over the limit of 1000 runs a second"},
		{"rate just over", store.Backfill{Schedule: "d", From: from, To: from.AddDate(0, 0, 3), Rate: taskmaster.MaxBackfillRate + 1}, "limit of 1000 runs a second"},
		{"negative rate", store.Backfill{Schedule: "d", From: from, To: from.AddDate(0, 0, 3), Rate: -1}, "rate must not be negative"},
		// 10,001 days of daily runs, and a century of seconds.
		{"too many runs", store.Backfill{Schedule: "d", From: from, To: from.AddDate(0, 0, 10_001), Rate: 5}, "more than 10000 runs"},
		{"every second for a century", store.Backfill{Cron: "@every 1s", Task: &store.TaskTemplate{Type: "job"}, From: from, To: from.AddDate(100, 0, 0)}, "more than 10000 runs"},
	} {
		_, err := tm.StartBackfill(t.Context(), &tc.b)
		require.ErrorIs(t, err, taskmaster.ErrInvalid, tc.name)
		require.ErrorContains(t, err, tc.want, tc.name)
	}
	bs, err := tm.Backfills(t.Context())
	require.NoError(t, err)
	require.Empty(t, bs, "a refused backfill is not stored")

	// Exactly the limit is allowed.
	b, err := tm.StartBackfill(t.Context(), &store.Backfill{Schedule: "d", From: from, To: from.AddDate(0, 0, taskmaster.MaxBackfillRuns), Rate: 1})
	require.NoError(t, err)
	require.Equal(t, store.BackfillRunning, b.Status)
	_, err = tm.CancelBackfill(t.Context(), b.ID)
	require.NoError(t, err)
}

func TestBackfillCancelStopsIt(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tm, _ := f.start(t)
	f.daily(t, tm, "d")
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b, err := tm.StartBackfill(t.Context(), &store.Backfill{Schedule: "d", From: from, To: from.AddDate(0, 0, 30), Rate: 2})
	require.NoError(t, err)
	// The first batch is created at once; the next waits a second on the
	// clock, which does not move.
	backfillWhere(t, tm, b.ID, func(b *store.Backfill) bool { return b.Created == 2 })

	got, err := tm.CancelBackfill(t.Context(), b.ID)
	require.NoError(t, err)
	require.Equal(t, store.BackfillCancelled, got.Status)
	require.True(t, got.Done)
	// The cancel stops the loop at once, without the clock moving.
	require.Eventually(t, func() bool { return tm.RunningBackfills() == 0 }, 30*time.Second, time.Millisecond)
	for range 5 {
		f.clock.Advance(time.Second)
	}
	require.Len(t, f.runs(t, "d"), 2, "no run is created after the cancel")
	got, err = tm.Backfill(t.Context(), b.ID)
	require.NoError(t, err)
	require.Equal(t, store.BackfillCancelled, got.Status)
	require.Equal(t, 2, got.Created)

	// Cancelling again is harmless; a finished backfill cannot be.
	_, err = tm.CancelBackfill(t.Context(), b.ID)
	require.NoError(t, err)
	_, err = tm.CancelBackfill(t.Context(), "nope")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestBackfillCancelledElsewhereStops(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tm, _ := f.start(t)
	f.daily(t, tm, "d")
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b, err := tm.StartBackfill(t.Context(), &store.Backfill{Schedule: "d", From: from, To: from.AddDate(0, 0, 30), Rate: 2})
	require.NoError(t, err)
	backfillWhere(t, tm, b.ID, func(b *store.Backfill) bool { return b.Created == 2 })
	// Another process sharing the store cancels it: the loop learns at
	// its next progress write, which the store refuses.
	_, err = f.st.CancelBackfill(t.Context(), b.ID, f.clock.Now())
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		f.clock.Advance(time.Second)
		return tm.RunningBackfills() == 0
	}, 30*time.Second, time.Millisecond)
	require.LessOrEqual(t, len(f.runs(t, "d")), 4, "at most the batch under way when it was cancelled")
	got, err := tm.Backfill(t.Context(), b.ID)
	require.NoError(t, err)
	require.Equal(t, store.BackfillCancelled, got.Status)
}

func TestBackfillResumesAfterShutdown(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tm, stop := f.start(t)
	f.daily(t, tm, "d")
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b, err := tm.StartBackfill(t.Context(), &store.Backfill{Schedule: "d", From: from, To: from.AddDate(0, 0, 30), Rate: 7})
	require.NoError(t, err)
	backfillWhere(t, tm, b.ID, func(b *store.Backfill) bool { return b.Created == 7 })
	// Shutdown mid-backfill: Run returns only once the loop stopped.
	stop()
	require.Zero(t, tm.RunningBackfills())
	stored, err := f.st.GetBackfill(t.Context(), b.ID)
	require.NoError(t, err)
	require.False(t, stored.Done)
	require.Equal(t, store.BackfillRunning, stored.Status)
	require.Equal(t, 7, stored.Created)
	require.Len(t, f.runs(t, "d"), 7)

	// The next start resumes after the last batch stored.
	tm, _ = f.start(t)
	var got *store.Backfill
	require.Eventually(t, func() bool {
		f.clock.Advance(time.Second)
		got, err = tm.Backfill(t.Context(), b.ID)
		require.NoError(t, err)
		return got.Done
	}, 30*time.Second, time.Millisecond)
	require.Equal(t, store.BackfillDone, got.Status)
	require.Equal(t, 30, got.Created)
	require.Zero(t, got.Existing, "no run was attempted twice")
	runs := f.runs(t, "d")
	require.Len(t, runs, 30)
	require.Equal(t, taskmaster.ScheduleKeyPrefix+schedule.Key("d", from.Add(3*time.Hour)), runs[0])
}

func TestBackfillStoredWithAHugeRateRunsInBoundedBatches(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tm, stop := f.start(t)
	_, err := tm.CreateSchedule(t.Context(), &store.Schedule{
		Def: schedule.Schedule{Name: "h", Cron: "@hourly"}, Task: store.TaskTemplate{Type: "job"},
	})
	require.NoError(t, err)
	stop()
	// A backfill stored before rates were bounded, as the store holds it.
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, f.st.CreateBackfill(t.Context(), &store.Backfill{
		ID: "old", Schedule: "h", From: from, To: from.Add(2500 * time.Hour), Next: from, Rate: 1_000_000_000, Started: from,
	}))
	tm, _ = f.start(t)
	backfillWhere(t, tm, "old", func(b *store.Backfill) bool { return b.Created == taskmaster.MaxBackfillRate })
	// The clock does not move: the second batch waits for it.
	n, err := f.st.CountActive(t.Context(), taskmaster.ScheduleKeyPrefix+"h@")
	require.NoError(t, err)
	require.Equal(t, taskmaster.MaxBackfillRate, n)
	got := backfillWhere(t, tm, "old", func(b *store.Backfill) bool {
		f.clock.Advance(time.Second)
		return b.Done
	})
	require.Equal(t, 2500, got.Created)
	n, err = f.st.CountActive(t.Context(), taskmaster.ScheduleKeyPrefix+"h@")
	require.NoError(t, err)
	require.Equal(t, 2500, n)
	require.Equal(t, store.BackfillDone, got.Status)
}
