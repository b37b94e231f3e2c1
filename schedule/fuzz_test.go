package schedule_test

import (
	"testing"
	"time"

	"github.com/loomhq/loom/schedule"
)

// FuzzParse: Parse never panics, and every expression it accepts yields
// fire times strictly after their input, in order, around DST transitions
// too, for a bounded set of inputs.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"* * * * *", "*/15 * * * *", "0 30 2 * * *", "30 2 * * *", "0 0 1 * MON", "0 22-2 * * *",
		"@daily", "@hourly", "@every 10m", "@every 1h30m", "0 0 29 2 *", "5-55/10 1,2,3 * jan-mar sun",
		"CRON_TZ=America/New_York 0 1 * * *", "0 0 31 */2 *", "H * * * *", "*/0 * * * *", "@every 0s",
	} {
		f.Add(seed, "Europe/Berlin")
		f.Add(seed, "")
	}
	f.Add("30 1 * * *", "America/New_York")
	f.Add("0 0 * * *", "Australia/Lord_Howe")
	starts := []time.Time{
		time.Date(2026, 3, 29, 0, 59, 59, 0, time.UTC),
		time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC),
		time.Date(2026, 3, 8, 6, 59, 59, 999, time.UTC),
		time.Date(2026, 11, 1, 5, 45, 0, 0, time.UTC),
		time.Date(2028, 2, 28, 23, 59, 59, 0, time.UTC),
	}
	f.Fuzz(func(t *testing.T, expr, tz string) {
		s, err := schedule.Parse(expr, tz)
		if err != nil {
			return
		}
		if _, err := schedule.Parse(s.String(), ""); err != nil {
			t.Fatalf("String %q of %q does not parse back: %v", s.String(), expr, err)
		}
		for _, start := range starts {
			prev := start
			for _, next := range s.NextN(start, 4) {
				if !next.After(prev) {
					t.Fatalf("%q in %q: Next(%s) = %s, not after", expr, tz, prev, next)
				}
				prev = next
			}
		}
	})
}
