package engine

import (
	"testing"
	"time"
)

// TestRoundDelay keeps a retry's delay in its message readable.
func TestRoundDelay(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{
		834775277 * time.Nanosecond:   835 * time.Millisecond,
		1500 * time.Millisecond:       2 * time.Second,
		3*time.Minute + 7*time.Second: 3*time.Minute + 7*time.Second,
		1234 * time.Microsecond:       time.Millisecond,
	} {
		if got := roundDelay(in); got != want {
			t.Errorf("roundDelay(%s) = %s, want %s", in, got, want)
		}
	}
}
