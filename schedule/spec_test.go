package schedule_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom/schedule"
)

// at parses "2006-01-02 15:04:05" in zone tz.
func at(t *testing.T, tz, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(tz)
	require.NoError(t, err)
	v, err := time.ParseInLocation(time.DateTime, s, loc)
	require.NoError(t, err)
	return v
}

func TestParseAccepts(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // a Thursday
	tests := []struct {
		expr, tz string
		want     []string // NextN(from, len(want)) in RFC 3339
		str      string
	}{
		{"*/15 * * * *", "", []string{"2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z"}, "*/15 * * * *"},
		{"  0   12 * * *  ", "", []string{"2026-01-01T12:00:00Z", "2026-01-02T12:00:00Z"}, "0 12 * * *"},
		{"30 */20 * * * *", "", []string{"2026-01-01T00:00:30Z", "2026-01-01T00:20:30Z"}, "30 */20 * * * *"},
		{"@every 10m", "", []string{"2026-01-01T00:10:00Z", "2026-01-01T00:20:00Z"}, "@every 10m"},
		{"@every 1h30m", "", []string{"2026-01-01T01:30:00Z", "2026-01-01T03:00:00Z"}, "@every 1h30m"},
		{"@daily", "", []string{"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"}, "@daily"},
		{"@midnight", "", []string{"2026-01-02T00:00:00Z"}, "@midnight"},
		{"@hourly", "", []string{"2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"}, "@hourly"},
		{"@weekly", "", []string{"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}, "@weekly"},
		{"@monthly", "", []string{"2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"}, "@monthly"},
		{"@yearly", "", []string{"2027-01-01T00:00:00Z"}, "@yearly"},
		{"@ANNUALLY", "", []string{"2027-01-01T00:00:00Z"}, "@annually"},
		{"0 9 * * MON-FRI", "", []string{"2026-01-01T09:00:00Z", "2026-01-02T09:00:00Z", "2026-01-05T09:00:00Z"}, "0 9 * * MON-FRI"},
		{"0 0 1 jan,jul *", "", []string{"2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"}, "0 0 1 jan,jul *"},
		{"0 0 * * 7", "", []string{"2026-01-04T00:00:00Z"}, "0 0 * * 7"},
		{"0 22-2 * * *", "", []string{"2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z", "2026-01-01T22:00:00Z"}, "0 22-2 * * *"},
		{"0 0 29 2 *", "", []string{"2028-02-29T00:00:00Z"}, "0 0 29 2 *"},
		{"0 9 * * *", "Europe/Berlin", []string{"2026-01-01T08:00:00Z"}, "CRON_TZ=Europe/Berlin 0 9 * * *"},
		{"CRON_TZ=America/New_York 0 9 * * *", "", []string{"2026-01-01T14:00:00Z"}, "CRON_TZ=America/New_York 0 9 * * *"},
		{"TZ=America/New_York 0 9 * * *", "America/New_York", []string{"2026-01-01T14:00:00Z"}, "CRON_TZ=America/New_York 0 9 * * *"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			s, err := schedule.Parse(tt.expr, tt.tz)
			require.NoError(t, err)
			require.Equal(t, tt.str, s.String())
			var got []string
			for _, v := range s.NextN(from, len(tt.want)) {
				got = append(got, v.UTC().Format(time.RFC3339))
			}
			require.Equal(t, tt.want, got)

			again, err := schedule.Parse(s.String(), "")
			require.NoError(t, err, "String must parse back")
			require.Equal(t, s.NextN(from, 5), again.NextN(from, 5))
		})
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr, tz, want string
	}{
		{"", "", "empty expression"},
		{"   ", "", "empty expression"},
		{"* * * *", "", "got 4 fields"},
		{"* * * * * * *", "", "got 7 fields"},
		{"60 * * * *", "", "minute field \"60\""},
		{"0 24 * * *", "", "hour field \"24\""},
		{"0 0 32 * *", "", "day-of-month field \"32\""},
		{"0 0 0 * *", "", "day-of-month field \"0\""},
		{"0 0 * 13 *", "", "month field \"13\""},
		{"0 0 * foo *", "", "month field \"foo\""},
		{"0 0 * * 8", "", "day-of-week field \"8\""},
		{"0 0 * * MON-", "", "day-of-week field"},
		{"61 0 0 * * *", "", "second field \"61\""},
		{"*/0 * * * *", "", "minute field \"*/0\""},
		{"0 0 30 2 *", "", "never matches"},
		{"0 0 31 4,6,9,11 *", "", "never matches"},
		{"H * * * *", "", "minute field"},
		{"@fortnightly", "", "unknown descriptor"},
		{"@every", "", "@every needs a duration"},
		{"@every soon", "", "@every duration"},
		{"@every 500ms", "", "shorter than 1s"},
		{"@every -1h", "", "shorter than 1s"},
		{"0 9 * * *", "Mars/Olympus", "Mars/Olympus"},
		{"0 9 * * *", "../etc/passwd", "not an IANA zone name"},
		{"0 9 * * *", "Local", "differs between machines"},
		{"CRON_TZ=Europe/Berlin 0 9 * * *", "UTC", "conflicts"},
		{strings.Repeat("1,", 300) + "1 * * * *", "", "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.expr+"|"+tt.tz, func(t *testing.T) {
			t.Parallel()
			_, err := schedule.Parse(tt.expr, tt.tz)
			require.Error(t, err)
			require.True(t, errors.Is(err, schedule.ErrInvalidSpec), "%v", err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

// When both day fields are restricted either one matching fires, as in
// Vixie cron; when one is *, only the other restricts.
func TestDayOfMonthOrDayOfWeek(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // Thursday
	tests := []struct {
		expr string
		want []string
	}{
		{"0 0 13 * FRI", []string{"2026-01-02", "2026-01-09", "2026-01-13", "2026-01-16", "2026-01-23"}},
		{"0 0 1 * MON", []string{"2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26", "2026-02-01"}},
		{"0 0 * * MON", []string{"2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26", "2026-02-02"}},
		{"0 0 15 * *", []string{"2026-01-15", "2026-02-15", "2026-03-15", "2026-04-15", "2026-05-15"}},
	}
	for _, tt := range tests {
		s := schedule.MustParse(tt.expr, "")
		var got []string
		for _, v := range s.NextN(from, 5) {
			got = append(got, v.Format(time.DateOnly))
		}
		require.Equal(t, tt.want, got, tt.expr)
	}
}

// The UI lists each schedule's next five fire times.
func TestNextNFive(t *testing.T) {
	t.Parallel()
	s := schedule.MustParse("0 30 9 * * MON-FRI", "Europe/Berlin")
	got := s.NextN(at(t, "Europe/Berlin", "2026-03-26 10:00:00"), 5)
	var want []time.Time
	for _, d := range []string{"2026-03-27", "2026-03-30", "2026-03-31", "2026-04-01", "2026-04-02"} {
		want = append(want, at(t, "Europe/Berlin", d+" 09:30:00"))
	}
	require.Len(t, got, 5)
	for i := range want {
		require.True(t, want[i].Equal(got[i]), "%d: want %s, got %s", i, want[i], got[i])
	}
	require.Empty(t, s.NextN(time.Time{}, 0))
}

// Next returns times in the location of its argument and always after it,
// also from instants with sub-second parts.
func TestNextLocationAndStrictness(t *testing.T) {
	t.Parallel()
	s := schedule.MustParse("* * * * * *", "Asia/Tokyo")
	from := time.Date(2026, 5, 1, 12, 0, 0, 500, time.UTC)
	next := s.Next(from)
	require.Equal(t, time.UTC, next.Location())
	require.Equal(t, time.Date(2026, 5, 1, 12, 0, 1, 0, time.UTC), next)
	require.Equal(t, time.Date(2026, 5, 1, 12, 0, 2, 0, time.UTC), s.Next(next))
}
