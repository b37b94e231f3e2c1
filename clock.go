package loom

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Clock is the source of time for everything in loom that waits: retry
// backoff, circuit breaker cool-downs, task timeouts and schedules. Production
// code uses SystemClock; tests inject loomtest.FakeClock so that a flow with
// retries and timeouts runs in milliseconds without sleeping.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that fires once d has elapsed on this clock.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer created by a Clock.
type Timer interface {
	// C delivers the time once the timer fires.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did so.
	Stop() bool
}

// SystemClock is the Clock of the wall: time.Now and time.NewTimer.
type SystemClock struct{}

var _ Clock = SystemClock{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer returns a wrapped time.Timer.
func (SystemClock) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time { return t.t.C }
func (t systemTimer) Stop() bool          { return t.t.Stop() }

// clockOrDefault returns c, or SystemClock when c is nil; it is the one place
// the default clock is chosen.
func clockOrDefault(c Clock) Clock {
	if c == nil {
		return SystemClock{}
	}
	return c
}

// Sleep waits for d on clock c, returning early with ctx.Err() when ctx is
// done. Handlers that wait should use it (rather than time.Sleep) so that a
// test's fake clock can skip the wait.
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := clockOrDefault(c).NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// WithTimeout is context.WithTimeout on clock c: the returned context is
// cancelled once d has elapsed on c, with context.Cause reporting
// context.DeadlineExceeded. With a fake clock the deadline passes when the
// test advances time. Check expiry with TimedOut, which works for both.
func WithTimeout(ctx context.Context, c Clock, d time.Duration) (context.Context, context.CancelFunc) {
	c = clockOrDefault(c)
	if _, ok := c.(SystemClock); ok {
		return context.WithTimeout(ctx, d)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	t := c.NewTimer(d)
	stop := make(chan struct{})
	go func() {
		select {
		case <-t.C():
			cancel(context.DeadlineExceeded)
		case <-stop:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
		}
	}()
	stopOnce := sync.OnceFunc(func() { close(stop) })
	return ctx, func() {
		stopOnce()
		cancel(context.Canceled)
	}
}

// TimedOut reports whether ctx ended because its deadline passed, on the
// system clock or on an injected one (see WithTimeout).
func TimedOut(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), context.DeadlineExceeded)
}
