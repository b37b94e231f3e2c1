package schedule_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom/schedule"
)

// Fire times across the 2026 DST transitions, as wall-clock readings in the
// schedule's zone. Fixed-time expressions fire once per day on both
// transitions (a 02:30 in the spring gap at 03:30); interval-like ones and
// @every follow real time: nothing in the gap, both passes of the repeated
// hour.
func TestDST(t *testing.T) {
	t.Parallel()
	const layout = "01-02 15:04 MST"
	type want = []string
	tests := []struct {
		tz, from, expr string
		want           want
	}{
		// Europe/Berlin, spring forward 2026-03-29 02:00 CET -> 03:00 CEST.
		{"Europe/Berlin", "2026-03-28 00:00:00", "30 2 * * *", want{"03-28 02:30 CET", "03-29 03:30 CEST", "03-30 02:30 CEST"}},
		{"Europe/Berlin", "2026-03-29 00:00:00", "0 * * * *", want{"03-29 01:00 CET", "03-29 03:00 CEST", "03-29 04:00 CEST"}},
		{"Europe/Berlin", "2026-03-29 00:45:00", "*/30 * * * *", want{"03-29 01:00 CET", "03-29 01:30 CET", "03-29 03:00 CEST", "03-29 03:30 CEST"}},
		{"Europe/Berlin", "2026-03-29 00:00:00", "@every 1h", want{"03-29 01:00 CET", "03-29 03:00 CEST", "03-29 04:00 CEST"}},
		{"Europe/Berlin", "2026-03-29 00:00:00", "15,45 2 * * *", want{"03-29 03:15 CEST", "03-29 03:45 CEST", "03-30 02:15 CEST"}},
		// Europe/Berlin, fall back 2026-10-25 03:00 CEST -> 02:00 CET.
		{"Europe/Berlin", "2026-10-24 00:00:00", "30 2 * * *", want{"10-24 02:30 CEST", "10-25 02:30 CEST", "10-26 02:30 CET"}},
		{"Europe/Berlin", "2026-10-25 00:30:00", "0 * * * *", want{"10-25 01:00 CEST", "10-25 02:00 CEST", "10-25 02:00 CET", "10-25 03:00 CET"}},
		{"Europe/Berlin", "2026-10-25 01:45:00", "*/30 * * * *", want{"10-25 02:00 CEST", "10-25 02:30 CEST", "10-25 02:00 CET", "10-25 02:30 CET", "10-25 03:00 CET"}},
		{"Europe/Berlin", "2026-10-25 01:00:00", "@every 1h", want{"10-25 02:00 CEST", "10-25 02:00 CET", "10-25 03:00 CET"}},
		{"Europe/Berlin", "2026-10-25 00:00:00", "@daily", want{"10-26 00:00 CET"}},
		// America/New_York, spring forward 2026-03-08 02:00 EST -> 03:00 EDT.
		{"America/New_York", "2026-03-07 00:00:00", "30 2 * * *", want{"03-07 02:30 EST", "03-08 03:30 EDT", "03-09 02:30 EDT"}},
		{"America/New_York", "2026-03-08 00:30:00", "0 * * * *", want{"03-08 01:00 EST", "03-08 03:00 EDT", "03-08 04:00 EDT"}},
		{"America/New_York", "2026-03-08 01:00:00", "*/30 * * * *", want{"03-08 01:30 EST", "03-08 03:00 EDT", "03-08 03:30 EDT"}},
		{"America/New_York", "2026-03-08 00:00:00", "@every 1h", want{"03-08 01:00 EST", "03-08 03:00 EDT", "03-08 04:00 EDT"}},
		{"America/New_York", "2026-03-08 00:00:00", "0 30 2 * * *", want{"03-08 03:30 EDT", "03-09 02:30 EDT"}},
		// America/New_York, fall back 2026-11-01 02:00 EDT -> 01:00 EST.
		{"America/New_York", "2026-10-31 12:00:00", "30 1 * * *", want{"11-01 01:30 EDT", "11-02 01:30 EST"}},
		{"America/New_York", "2026-10-31 12:00:00", "30 2 * * *", want{"11-01 02:30 EST", "11-02 02:30 EST"}},
		{"America/New_York", "2026-11-01 00:30:00", "0 * * * *", want{"11-01 01:00 EDT", "11-01 01:00 EST", "11-01 02:00 EST"}},
		{"America/New_York", "2026-11-01 00:45:00", "*/30 * * * *", want{"11-01 01:00 EDT", "11-01 01:30 EDT", "11-01 01:00 EST", "11-01 01:30 EST", "11-01 02:00 EST"}},
		{"America/New_York", "2026-11-01 00:00:00", "@every 1h", want{"11-01 01:00 EDT", "11-01 01:00 EST", "11-01 02:00 EST"}},
	}
	for _, tt := range tests {
		t.Run(tt.tz+"/"+tt.from+"/"+tt.expr, func(t *testing.T) {
			t.Parallel()
			s := schedule.MustParse(tt.expr, tt.tz)
			from := at(t, tt.tz, tt.from)
			var got []string
			for _, v := range s.NextN(from, len(tt.want)) {
				got = append(got, v.In(s.Location()).Format(layout))
			}
			require.Equal(t, tt.want, got)
		})
	}
}

// Next must give the same answer from every instant between two fires, not
// only from the previous fire: an engine restarted mid-transition, or the
// UI asking at any moment, sees the same next time. Walk each transition
// minute by minute and check Next against the fire list.
func TestDSTNextFromAnyInstant(t *testing.T) {
	t.Parallel()
	windows := []struct{ tz, from string }{
		{"Europe/Berlin", "2026-03-28 22:00:00"},
		{"Europe/Berlin", "2026-10-24 22:00:00"},
		{"America/New_York", "2026-03-07 22:00:00"},
		{"America/New_York", "2026-10-31 22:00:00"},
	}
	for _, w := range windows {
		for _, expr := range []string{"30 2 * * *", "30 1 * * *", "0 * * * *", "*/30 * * * *", "15 2 * * *", "0 3 * * *"} {
			s := schedule.MustParse(expr, w.tz)
			start := at(t, w.tz, w.from)
			fires := s.NextN(start, 40)
			for now := start; now.Before(start.Add(8 * time.Hour)); now = now.Add(time.Minute) {
				want := fires[0]
				for _, f := range fires {
					if f.After(now) {
						want = f
						break
					}
				}
				got := s.Next(now)
				require.True(t, want.Equal(got), "%s %s from %s: want %s, got %s", w.tz, expr, now, want, got)
			}
		}
	}
}
