package loomtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/loomtest"
)

// TestAutoAdvanceWaitsForHolds: AutoAdvance does not move the clock while
// a hold is out, moves it once the hold is released, and a Sleep on a
// context carrying a hold (HoldClock) lets the clock skip the sleep.
func TestAutoAdvanceWaitsForHolds(t *testing.T) {
	clock := loomtest.NewFakeClock(time.Time{})
	start := clock.Now()
	stop := clock.AutoAdvance(context.Background(), time.Millisecond)
	defer stop()

	release := clock.Hold()
	timer := clock.NewTimer(time.Hour)
	// Many settle periods pass; the held clock stays where it is.
	time.Sleep(50 * time.Millisecond)
	if got := clock.Now(); !got.Equal(start) {
		t.Fatalf("the clock moved to %s while held", got)
	}
	release()
	<-timer.C()
	if got := clock.Now().Sub(start); got != time.Hour {
		t.Fatalf("the clock moved %s, want 1h", got)
	}

	ctx, hold := loom.HoldClock(context.Background(), clock)
	if clock.Holds() != 1 {
		t.Fatalf("%d holds, want 1", clock.Holds())
	}
	if err := loom.Sleep(ctx, clock, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if clock.Holds() != 1 {
		t.Fatalf("%d holds after Sleep, want the context's hold back", clock.Holds())
	}
	hold.Release()
	hold.Release()
	if clock.Holds() != 0 {
		t.Fatalf("%d holds after Release, want 0", clock.Holds())
	}
	if got := clock.Now().Sub(start); got != 25*time.Hour {
		t.Fatalf("the clock moved %s, want 25h", got)
	}
}
