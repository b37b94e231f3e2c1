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
// test's fake clock can skip the wait: a hold on the clock that ctx carries
// (HoldClock) is let go while Sleep waits.
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	h := clockHoldOf(ctx)
	if h == nil {
		t := clockOrDefault(c).NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
			return nil
		}
	}
	// The timer holds the clock from its firing until the context's hold
	// is taken again: the clock cannot skip past the work after the sleep.
	t, release := NewHeldTimer(c, d)
	defer release()
	defer t.Stop()
	h.Pause()
	defer h.Resume()
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

// Holder is a Clock that moves by itself, as loomtest.FakeClock does under
// AutoAdvance, and can be told that work is in flight: while any hold is
// out it does not skip ahead, so that a deadline on it does not pass while
// real work (a database write, an HTTP call) is still under way. The
// durable engine holds the clock from the moment it has work until that
// work waits on the clock again. SystemClock is not a Holder: real time
// waits for nobody.
type Holder interface {
	Clock
	// Hold marks work in flight until release is called; calling
	// release more than once is harmless.
	Hold() (release func())
	// NewHeldTimer is NewTimer for code that acts on the time it
	// delivers: the timer holds the clock from the moment it fires until
	// release is called, so that the clock cannot move on before the
	// receiver has even run. release is harmless to call whether or not
	// the timer fired, and more than once.
	NewHeldTimer(d time.Duration) (t Timer, release func())
}

// NewHeldTimer returns c.NewHeldTimer(d) on a Holder, else c.NewTimer(d)
// and a release that does nothing.
func NewHeldTimer(c Clock, d time.Duration) (t Timer, release func()) {
	if h, ok := c.(Holder); ok {
		return h.NewHeldTimer(d)
	}
	return clockOrDefault(c).NewTimer(d), func() {}
}

// Hold holds c while work is in flight (see Holder) and returns the
// release; on a clock that is not a Holder it does nothing.
func Hold(c Clock) (release func()) {
	if h, ok := c.(Holder); ok {
		return h.Hold()
	}
	return func() {}
}

// ClockHold is a hold on a Clock that a context carries (HoldClock): a
// Sleep on that context lets go of it for as long as it waits, so that a
// handler waiting an hour on the clock lets the clock skip that hour,
// while one in an HTTP call keeps it still. A nil *ClockHold does nothing.
type ClockHold struct {
	c       Holder
	mu      sync.Mutex
	release func() // the current hold; nil while paused or released
	paused  int
	done    bool
}

type clockHoldKey struct{}

// HoldClock holds c, if it is a Holder, until Release, and returns a
// context carrying the hold (see ClockHold). On any other clock it returns
// ctx and a nil hold.
func HoldClock(ctx context.Context, c Clock) (context.Context, *ClockHold) {
	hc, ok := c.(Holder)
	if !ok {
		return ctx, nil
	}
	h := &ClockHold{c: hc, release: hc.Hold()}
	return context.WithValue(ctx, clockHoldKey{}, h), h
}

// Pause lets go of the clock until the matching Resume; pauses nest.
func (h *ClockHold) Pause() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.paused++
	if h.release != nil {
		h.release()
		h.release = nil
	}
}

// Resume ends one Pause, holding the clock again after the last one.
func (h *ClockHold) Resume() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.paused > 0 {
		h.paused--
	}
	if h.paused == 0 && !h.done && h.release == nil {
		h.release = h.c.Hold()
	}
}

// Release ends the hold for good.
func (h *ClockHold) Release() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = true
	if h.release != nil {
		h.release()
		h.release = nil
	}
}

// handlerHoldLimit is how long of real time a running handler holds a
// clock that moves by itself: long enough for the real calls of a test (a
// request to a local server), short enough that a handler waiting for its
// context to time out still sees the timeout soon.
const handlerHoldLimit = 250 * time.Millisecond

// ClockHoldFrom returns the hold ctx carries (HoldClock), or nil.
func ClockHoldFrom(ctx context.Context) *ClockHold { return clockHoldOf(ctx) }

// PauseAfter pauses h once d of real time has passed, until the returned
// stop is called: a handler blocked on something other than the clock
// (its context, a channel) must not keep a fake clock still for good,
// while the work before and after it must. Nil-safe.
func (h *ClockHold) PauseAfter(d time.Duration) (stop func()) {
	if h == nil {
		return func() {}
	}
	t := time.AfterFunc(d, h.Pause)
	return func() {
		if !t.Stop() {
			h.Resume()
		}
	}
}

// clockHoldOf returns the hold ctx carries, or nil.
func clockHoldOf(ctx context.Context) *ClockHold {
	h, _ := ctx.Value(clockHoldKey{}).(*ClockHold)
	return h
}
