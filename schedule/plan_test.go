package schedule_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom/loomtest"
	"github.com/loomhq/loom/schedule"
)

// engine is the smallest engine loop around Plan: it stores the cursor,
// creates each fire at most once by key, and counts active runs.
type engine struct {
	s       schedule.Schedule
	clock   *loomtest.FakeClock
	cursor  time.Time
	created map[string]schedule.Fire
	order   []schedule.Fire
	active  int
	last    schedule.Decision
}

func setup(t *testing.T, s schedule.Schedule, start time.Time) *engine {
	t.Helper()
	require.NoError(t, s.Validate())
	return &engine{s: s, clock: loomtest.NewFakeClock(start), created: map[string]schedule.Fire{}}
}

// tick runs one decision at the clock's time and applies it.
func (e *engine) tick(t *testing.T) schedule.Decision {
	t.Helper()
	d, err := schedule.Plan(e.s, e.cursor, e.clock.Now(), e.active)
	require.NoError(t, err)
	for _, f := range d.Fires {
		if _, dup := e.created[f.Key]; dup {
			continue
		}
		e.created[f.Key] = f
		e.order = append(e.order, f)
	}
	require.False(t, d.Cursor.Before(e.cursor), "cursor moved backwards")
	e.cursor = d.Cursor
	e.last = d
	return d
}

// run ticks every step until the clock has advanced by d.
func (e *engine) run(t *testing.T, d, step time.Duration) {
	t.Helper()
	end := e.clock.Now().Add(d)
	for !e.clock.Now().After(end) {
		e.tick(t)
		e.clock.Advance(step)
	}
}

func scheduled(fires []schedule.Fire) []string {
	out := []string{}
	for _, f := range fires {
		out = append(out, f.Scheduled.Format(time.RFC3339))
	}
	return out
}

func hourly(name string) schedule.Schedule {
	return schedule.Schedule{Name: name, Cron: "0 * * * *", Overlap: schedule.OverlapAllow}
}

var t0 = time.Date(2026, 6, 1, 9, 59, 30, 0, time.UTC)

func TestPlanRegularTicks(t *testing.T) {
	t.Parallel()
	e := setup(t, hourly("report"), t0)
	d := e.tick(t)
	require.Empty(t, d.Fires, "a new schedule fires nothing for the past")
	require.Equal(t, time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC), d.Next)

	e.run(t, 3*time.Hour, 7*time.Second)
	require.Equal(t, []string{"2026-06-01T10:00:00Z", "2026-06-01T11:00:00Z", "2026-06-01T12:00:00Z"}, scheduled(e.order))
	require.Equal(t, "report@2026-06-01T10:00:00Z", e.order[0].Key)
	for _, f := range e.order {
		require.False(t, f.CatchUp)
		require.Equal(t, f.Scheduled, f.Due, "no jitter configured")
	}
	require.Equal(t, time.Date(2026, 6, 1, 13, 0, 0, 0, time.UTC), e.last.Next)
}

// Three days down, then one tick at 10:20: 72 hourly times were missed.
func TestPlanCatchUpAfterThreeDayDowntime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		catchUp     schedule.CatchUp
		wantFires   []string
		wantSkipped int
	}{
		{"skip missed", schedule.CatchUp{Mode: schedule.CatchUpSkipMissed}, []string{}, 72},
		{"run once", schedule.CatchUp{Mode: schedule.CatchUpRunOnce}, []string{"2026-06-04T10:00:00Z"}, 71},
		{"default is run once", schedule.CatchUp{}, []string{"2026-06-04T10:00:00Z"}, 71},
		{"run all, limit 10", schedule.CatchUp{Mode: schedule.CatchUpRunAll, Limit: 10}, []string{
			"2026-06-04T01:00:00Z", "2026-06-04T02:00:00Z", "2026-06-04T03:00:00Z", "2026-06-04T04:00:00Z", "2026-06-04T05:00:00Z",
			"2026-06-04T06:00:00Z", "2026-06-04T07:00:00Z", "2026-06-04T08:00:00Z", "2026-06-04T09:00:00Z", "2026-06-04T10:00:00Z",
		}, 62},
		{"run all, limit above missed", schedule.CatchUp{Mode: schedule.CatchUpRunAll, Limit: 100}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := hourly("sync")
			s.CatchUp = tt.catchUp
			e := setup(t, s, t0)
			e.run(t, time.Minute, 10*time.Second) // fires 10:00 on 06-01
			require.Len(t, e.order, 1)

			e.clock.Advance(72*time.Hour + 20*time.Minute) // down until 06-04 10:20:30
			d := e.tick(t)

			if tt.wantFires == nil {
				require.Len(t, d.Fires, 72)
				require.Equal(t, "2026-06-01T11:00:00Z", d.Fires[0].Scheduled.Format(time.RFC3339))
			} else {
				require.Equal(t, tt.wantFires, scheduled(d.Fires))
			}
			for _, f := range d.Fires {
				require.True(t, f.CatchUp)
			}
			require.Len(t, d.Skipped, tt.wantSkipped)
			for _, sk := range d.Skipped {
				require.Equal(t, schedule.SkipMissed, sk.Reason)
			}
			require.Equal(t, time.Date(2026, 6, 4, 10, 0, 0, 0, time.UTC), d.Cursor)
			require.Equal(t, time.Date(2026, 6, 4, 11, 0, 0, 0, time.UTC), d.Next)

			// The schedule then carries on as usual, with nothing repeated.
			before := len(e.order)
			e.run(t, time.Hour, 10*time.Second)
			require.Len(t, e.order, before+1)
			require.Equal(t, "2026-06-04T11:00:00Z", e.order[len(e.order)-1].Scheduled.Format(time.RFC3339))
		})
	}
}

// A time due within the grace period is on time, so RunOnce does not add a
// second run next to it.
func TestPlanRunOnceWithOnTimeFire(t *testing.T) {
	t.Parallel()
	s := hourly("sync")
	last := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	d, err := schedule.Plan(s, last, time.Date(2026, 6, 4, 10, 0, 30, 0, time.UTC), 0)
	require.NoError(t, err)
	require.Equal(t, []string{"2026-06-04T10:00:00Z"}, scheduled(d.Fires))
	require.False(t, d.Fires[0].CatchUp)
	require.Len(t, d.Skipped, 71)
}

func TestPlanOverlap(t *testing.T) {
	t.Parallel()
	last := time.Date(2026, 6, 1, 7, 0, 0, 0, time.UTC)
	now := time.Date(2026, 6, 1, 10, 0, 5, 0, time.UTC) // 08:00 and 09:00 missed, 10:00 on time
	runAll := schedule.CatchUp{Mode: schedule.CatchUpRunAll}
	tests := []struct {
		name        string
		overlap     schedule.OverlapPolicy
		active      int
		wantFires   []string
		wantQueued  []bool
		wantOverlap int
	}{
		{"skip, idle: newest only", schedule.OverlapSkip, 0, []string{"2026-06-01T10:00:00Z"}, []bool{false}, 2},
		{"skip, busy: none", schedule.OverlapSkip, 1, []string{}, nil, 3},
		{"default is skip", "", 1, []string{}, nil, 3},
		{"queue, idle: first runs, rest wait", schedule.OverlapQueue, 0,
			[]string{"2026-06-01T08:00:00Z", "2026-06-01T09:00:00Z", "2026-06-01T10:00:00Z"}, []bool{false, true, true}, 0},
		{"queue, busy: all wait", schedule.OverlapQueue, 2,
			[]string{"2026-06-01T08:00:00Z", "2026-06-01T09:00:00Z", "2026-06-01T10:00:00Z"}, []bool{true, true, true}, 0},
		{"allow, busy: all run", schedule.OverlapAllow, 5,
			[]string{"2026-06-01T08:00:00Z", "2026-06-01T09:00:00Z", "2026-06-01T10:00:00Z"}, []bool{false, false, false}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := schedule.Schedule{Name: "etl", Cron: "@hourly", Overlap: tt.overlap, CatchUp: runAll}
			d, err := schedule.Plan(s, last, now, tt.active)
			require.NoError(t, err)
			require.Equal(t, tt.wantFires, scheduled(d.Fires))
			var queued []bool
			for _, f := range d.Fires {
				queued = append(queued, f.Queued)
			}
			require.Equal(t, tt.wantQueued, queued)
			overlaps := 0
			for _, sk := range d.Skipped {
				if sk.Reason == schedule.SkipOverlap {
					overlaps++
				}
			}
			require.Equal(t, tt.wantOverlap, overlaps)
			require.Equal(t, time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC), d.Cursor, "skipped times are accounted for too")
		})
	}
}

// A slow job under OverlapSkip: while a run is active the ticks skip.
func TestPlanOverlapSkipOnInjectedClock(t *testing.T) {
	t.Parallel()
	s := schedule.Schedule{Name: "slow", Cron: "*/10 * * * *"}
	e := setup(t, s, time.Date(2026, 6, 1, 0, 0, 30, 0, time.UTC))
	e.tick(t)
	var skipped []string
	for range 60 { // one hour, a tick a minute; each run takes 25 minutes
		e.clock.Advance(time.Minute)
		before := len(e.order)
		d := e.tick(t)
		for _, sk := range d.Skipped {
			skipped = append(skipped, sk.Scheduled.Format("15:04"))
		}
		if len(e.order) > before {
			e.active = 1
		}
		if len(e.order) > 0 && e.clock.Now().Sub(e.order[len(e.order)-1].Scheduled) >= 25*time.Minute {
			e.active = 0
		}
	}
	require.Equal(t, []string{"2026-06-01T00:10:00Z", "2026-06-01T00:40:00Z"}, scheduled(e.order))
	require.Equal(t, []string{"00:20", "00:30", "00:50", "01:00"}, skipped)
}

func TestPlanPaused(t *testing.T) {
	t.Parallel()
	s := hourly("paused")
	s.Paused = true
	last := time.Date(2026, 6, 1, 7, 0, 0, 0, time.UTC)
	d, err := schedule.Plan(s, last, time.Date(2026, 6, 1, 10, 0, 5, 0, time.UTC), 0)
	require.NoError(t, err)
	require.Empty(t, d.Fires)
	require.Len(t, d.Skipped, 3)
	require.Equal(t, schedule.SkipPaused, d.Skipped[0].Reason)
	require.Equal(t, time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC), d.Cursor, "resuming does not catch up the pause")
}

// A crash between creating the runs and storing the cursor repeats the
// decision; the keys repeat with it, so nothing doubles.
func TestPlanIsDeterministic(t *testing.T) {
	t.Parallel()
	s := schedule.Schedule{Name: "n", Cron: "*/5 * * * *", Jitter: 4 * time.Minute, CatchUp: schedule.CatchUp{Mode: schedule.CatchUpRunAll}, Overlap: schedule.OverlapQueue}
	last := time.Date(2026, 6, 1, 7, 0, 0, 0, time.UTC)
	now := time.Date(2026, 6, 1, 7, 31, 0, 0, time.UTC)
	a, err := schedule.Plan(s, last, now, 0)
	require.NoError(t, err)
	b, err := schedule.Plan(s, last, now, 0)
	require.NoError(t, err)
	require.Equal(t, a, b)
	require.Len(t, a.Fires, 6)
}

func TestPlanEvery(t *testing.T) {
	t.Parallel()
	s := schedule.Schedule{Name: "poll", Cron: "@every 45m", CatchUp: schedule.CatchUp{Mode: schedule.CatchUpRunAll, Limit: 3}, Overlap: schedule.OverlapAllow}
	start := time.Date(2026, 6, 1, 10, 7, 12, 345, time.UTC)
	e := setup(t, s, start)
	d := e.tick(t)
	require.Equal(t, time.Date(2026, 6, 1, 10, 7, 12, 0, time.UTC), d.Cursor, "the grid is anchored at the first tick, to the second")
	require.Equal(t, time.Date(2026, 6, 1, 10, 52, 12, 0, time.UTC), d.Next)
	e.run(t, 2*time.Hour, 13*time.Second)
	require.Equal(t, []string{"2026-06-01T10:52:12Z", "2026-06-01T11:37:12Z"}, scheduled(e.order))

	e.clock.Advance(10 * time.Hour)
	d = e.tick(t)
	// Three missed (the limit) and 22:07:12, which is on time.
	require.Equal(t, []string{"2026-06-01T19:52:12Z", "2026-06-01T20:37:12Z", "2026-06-01T21:22:12Z", "2026-06-01T22:07:12Z"}, scheduled(d.Fires))
	require.Equal(t, time.Date(2026, 6, 1, 22, 52, 12, 0, time.UTC), d.Next)

	up, err := s.Upcoming(d.Cursor, e.clock.Now(), 2)
	require.NoError(t, err)
	require.Equal(t, []time.Time{time.Date(2026, 6, 1, 22, 52, 12, 0, time.UTC), time.Date(2026, 6, 1, 23, 37, 12, 0, time.UTC)}, up)
}

// Ticking through a DST night creates exactly the runs Next lists.
func TestPlanAcrossDST(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{"30 2 * * *", "*/30 * * * *", "@every 1h"} {
		s := schedule.Schedule{Name: "dst", Cron: expr, TimeZone: "Europe/Berlin", Overlap: schedule.OverlapAllow}
		start := at(t, "Europe/Berlin", "2026-10-24 22:00:00")
		e := setup(t, s, start)
		e.run(t, 8*time.Hour, 20*time.Second)
		spec, err := s.Spec()
		require.NoError(t, err)
		want := []string{}
		for _, v := range spec.NextN(start.Truncate(time.Second), 30) {
			if !v.After(e.clock.Now()) {
				want = append(want, v.UTC().Format(time.RFC3339))
			}
		}
		require.Equal(t, want, scheduled(e.order), expr)
	}
}

func TestPlanClockBehindCursor(t *testing.T) {
	t.Parallel()
	last := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	d, err := schedule.Plan(hourly("h"), last, last.Add(-time.Hour), 0)
	require.NoError(t, err)
	require.Empty(t, d.Fires)
	require.Equal(t, last, d.Cursor)
}

func TestPlanReportsAtMostMaxSkips(t *testing.T) {
	t.Parallel()
	s := schedule.Schedule{Name: "dense", Cron: "* * * * * *", CatchUp: schedule.CatchUp{Mode: schedule.CatchUpSkipMissed}}
	last := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	d, err := schedule.Plan(s, last, last.Add(30*24*time.Hour), 0)
	require.NoError(t, err)
	require.Len(t, d.Skipped, schedule.MaxSkipsReported)
	require.True(t, d.SkippedMore)
	require.Len(t, d.Fires, 1, "the newest on-time second")
	require.Equal(t, last.Add(30*24*time.Hour), d.Cursor)
}

func TestJitter(t *testing.T) {
	t.Parallel()
	const maxJ = 90 * time.Second
	s := schedule.Schedule{Name: "jittery", Cron: "* * * * *", Jitter: maxJ, Overlap: schedule.OverlapAllow, CatchUp: schedule.CatchUp{Mode: schedule.CatchUpRunAll, Limit: 500}}
	last := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	d, err := schedule.Plan(s, last, last.Add(400*time.Minute), 0)
	require.NoError(t, err)
	require.Len(t, d.Fires, 400)
	distinct := map[time.Duration]bool{}
	var lo, hi time.Duration = maxJ, 0
	for _, f := range d.Fires {
		j := f.Due.Sub(f.Scheduled)
		require.GreaterOrEqual(t, j, time.Duration(0))
		require.Less(t, j, maxJ)
		require.Equal(t, schedule.JitterFor("jittery", f.Scheduled, maxJ), j)
		distinct[j] = true
		lo, hi = min(lo, j), max(hi, j)
	}
	require.Greater(t, len(distinct), 390, "spread, not constant")
	require.Less(t, lo, 10*time.Second)
	require.Greater(t, hi, 80*time.Second)
	require.NotEqual(t, schedule.JitterFor("a", last, maxJ), schedule.JitterFor("b", last, maxJ), "differs by schedule")
	require.Zero(t, schedule.JitterFor("a", last, 0))
}

func TestValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, schedule.Schedule{Name: "ok", Cron: "@daily"}.Validate())
	err := schedule.Schedule{Cron: "61 * * * *", TimeZone: "Nowhere/Special", Overlap: "sometimes", CatchUp: schedule.CatchUp{Mode: "maybe", Limit: -1}, Jitter: -time.Second, Grace: -time.Second}.Validate()
	require.Error(t, err)
	for _, want := range []string{"name: required", "cron:", "Nowhere/Special", "overlap: \"sometimes\"", "catch_up.mode: \"maybe\"", "catch_up.limit", "jitter:", "grace:"} {
		require.Contains(t, err.Error(), want)
	}
	_, err = schedule.Plan(schedule.Schedule{Name: "x", Cron: "nope"}, time.Time{}, time.Now(), 0)
	require.True(t, errors.Is(err, schedule.ErrInvalidSpec))
}

func TestUpcomingCron(t *testing.T) {
	t.Parallel()
	s := schedule.Schedule{Name: "u", Cron: "0 9 * * *", TimeZone: "America/New_York"}
	got, err := s.Upcoming(time.Time{}, time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC), 5)
	require.NoError(t, err)
	require.Equal(t, []time.Time{
		time.Date(2026, 3, 6, 14, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 7, 14, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 8, 13, 0, 0, 0, time.UTC), // EDT from here
		time.Date(2026, 3, 9, 13, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 10, 13, 0, 0, 0, time.UTC),
	}, got)
}
