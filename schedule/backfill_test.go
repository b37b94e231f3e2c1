package schedule_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom/schedule"
)

func TestBackfill(t *testing.T) {
	t.Parallel()
	s := schedule.Schedule{Name: "daily-report", Cron: "0 6 * * *", TimeZone: "Europe/Berlin", Jitter: time.Minute}
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

	all, more, err := schedule.Backfill(s, from, to, 0)
	require.NoError(t, err)
	require.False(t, more)
	require.Len(t, all, 31)
	require.Equal(t, "daily-report@2026-03-01T05:00:00Z", all[0].Key)
	require.Equal(t, "daily-report@2026-03-31T04:00:00Z", all[30].Key, "CEST from 03-29")
	for _, f := range all {
		require.True(t, f.Backfill)
		require.Equal(t, schedule.Key(s.Name, f.Scheduled), f.Key)
		require.False(t, f.Due.Before(f.Scheduled))
	}

	// Paging with a bounded page creates the same set.
	var paged []schedule.Fire
	for cur := from; ; {
		page, more, err := schedule.Backfill(s, cur, to, 7)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), 7)
		paged = append(paged, page...)
		if !more {
			break
		}
		cur = page[len(page)-1].Scheduled.Add(time.Second)
	}
	require.Equal(t, all, paged)

	// A second backfill of the same range creates nothing new.
	store := map[string]bool{}
	for _, f := range all {
		store[f.Key] = true
	}
	again, _, err := schedule.Backfill(s, from, to, 0)
	require.NoError(t, err)
	created := 0
	for _, f := range again {
		if !store[f.Key] {
			created++
		}
	}
	require.Zero(t, created)

	// The keys are the ones regular runs of those periods carry.
	d, err := schedule.Plan(s, time.Date(2026, 3, 30, 4, 30, 0, 0, time.UTC), time.Date(2026, 3, 31, 4, 0, 10, 0, time.UTC), 0)
	require.NoError(t, err)
	require.Len(t, d.Fires, 1)
	require.Equal(t, all[30].Key, d.Fires[0].Key)
}

func TestBackfillRangeIsHalfOpen(t *testing.T) {
	t.Parallel()
	s := schedule.Schedule{Name: "h", Cron: "@hourly"}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fires, _, err := schedule.Backfill(s, from, from.Add(3*time.Hour), 0)
	require.NoError(t, err)
	require.Equal(t, []string{"2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"}, scheduled(fires))
}

func TestBackfillRejects(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_, _, err := schedule.Backfill(schedule.Schedule{Name: "h", Cron: "@hourly"}, from, from, 0)
	require.True(t, errors.Is(err, schedule.ErrEmptyRange))
	_, _, err = schedule.Backfill(schedule.Schedule{Name: "h", Cron: "@often"}, from, from.Add(time.Hour), 0)
	require.True(t, errors.Is(err, schedule.ErrInvalidSpec))
}

func TestCountBackfillStopsPastMax(t *testing.T) {
	t.Parallel()
	s := schedule.Schedule{Name: "h", Cron: "@hourly"}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n, err := schedule.CountBackfill(s, from, from.Add(3*time.Hour), 10)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	// A century of seconds is counted only up to max+1.
	every := schedule.Schedule{Name: "s", Cron: "@every 1s"}
	n, err = schedule.CountBackfill(every, from, from.AddDate(100, 0, 0), 10_000)
	require.NoError(t, err)
	require.Equal(t, 10_001, n)
	n, err = schedule.CountBackfill(s, from, from, 10)
	require.NoError(t, err)
	require.Zero(t, n)
}
