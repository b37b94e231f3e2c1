package ui

import (
	"testing"
	"time"
)

func TestTimeAxis(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		span time.Duration
		want []string
	}{
		{1200 * time.Millisecond, []string{"+0s", "+200ms", "+400ms", "+600ms", "+800ms", "+1s", "+1.2s"}},
		{10 * time.Second, []string{"+0s", "+2s", "+4s", "+6s", "+8s", "+10s"}},
		{90 * time.Minute, []string{"+0s", "+15m", "+30m", "+45m", "+1h", "+1h15m", "+1h30m"}},
		{0, []string{"+0s"}},
	} {
		ticks := timeAxis(t0, t0.Add(c.span))
		if len(ticks) < 1 || len(ticks) > maxTicks+1 {
			t.Errorf("%s: %d ticks", c.span, len(ticks))
		}
		seen := map[string]bool{}
		for i, tk := range ticks {
			if seen[tk.Label] {
				t.Errorf("%s: label %q twice", c.span, tk.Label)
			}
			seen[tk.Label] = true
			if tk.Left < 0 || tk.Left > 100 || (i > 0 && tk.Left <= ticks[i-1].Left) {
				t.Errorf("%s: tick %d at %g%%", c.span, i, tk.Left)
			}
		}
		if len(c.want) > 0 {
			var got []string
			for _, tk := range ticks {
				got = append(got, tk.Label)
			}
			if len(got) != len(c.want) {
				t.Errorf("%s: ticks %v, want %v", c.span, got, c.want)
				continue
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("%s: ticks %v, want %v", c.span, got, c.want)
					break
				}
			}
		}
	}
}
