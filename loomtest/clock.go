package loomtest

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/loomhq/loom"
)

// FakeClock is a loom.Clock whose time moves only when told to. Pass it in
// loom.Config.Clock (and BreakerConfig.Clock), then move time with Advance,
// or let the clock skip ahead by itself with AutoAdvance. It is safe for
// concurrent use.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	added  chan struct{} // closed and replaced whenever a timer is added
}

var _ loom.Clock = (*FakeClock)(nil)

// NewFakeClock returns a clock that reads start. A zero start means
// 2026-01-01T00:00:00Z, so that tests print stable times.
func NewFakeClock(start time.Time) *FakeClock {
	if start.IsZero() {
		start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return &FakeClock{now: start, added: make(chan struct{})}
}

// Now returns the clock's current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the clock has been advanced by d.
// A timer for d <= 0 fires at once.
func (c *FakeClock) NewTimer(d time.Duration) loom.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clock: c, when: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.fired = true
		t.ch <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	close(c.added)
	c.added = make(chan struct{})
	return t
}

// Advance moves the clock forward by d, firing every timer that falls due,
// in order of their deadlines.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advanceTo(c.now.Add(d))
}

// Set moves the clock to t (never backwards), firing due timers.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.advanceTo(t)
	}
}

func (c *FakeClock) advanceTo(end time.Time) {
	sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].when.Before(c.timers[j].when) })
	keep := c.timers[:0]
	for _, t := range c.timers {
		if !t.when.After(end) {
			if t.when.After(c.now) {
				c.now = t.when
			}
			t.fired = true
			t.ch <- c.now
			continue
		}
		keep = append(keep, t)
	}
	c.timers = keep
	c.now = end
}

// Timers returns how many timers are waiting to fire.
func (c *FakeClock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// WaitForTimers blocks until at least n timers are waiting, or ctx is done.
// A test calls it to know the code under test has reached its wait before
// calling Advance.
func (c *FakeClock) WaitForTimers(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		have, added := len(c.timers), c.added
		c.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-added:
		}
	}
}

// AdvanceToNext moves the clock to the earliest waiting timer and fires it
// (and any others due then). It reports false if no timer was waiting.
func (c *FakeClock) AdvanceToNext() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return false
	}
	next := c.timers[0].when
	for _, t := range c.timers[1:] {
		if t.when.Before(next) {
			next = t.when
		}
	}
	c.advanceTo(next)
	return true
}

// AutoAdvance skips time for the code under test: until ctx is done or the
// returned stop is called, whenever timers are waiting and none was added
// for settle (of real time; default 2ms), it moves the clock to the earliest
// one. A flow with retries, backoff, timeouts and breakers then runs in
// milliseconds. Timers fire in deadline order, so a task timeout still
// fires before a longer sleep in the handler.
func (c *FakeClock) AutoAdvance(ctx context.Context, settle time.Duration) (stop func()) {
	if settle <= 0 {
		settle = 2 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(settle)
		defer tick.Stop()
		for {
			c.mu.Lock()
			added := c.added
			c.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-added:
				continue // something is still setting up waits: let it settle
			case <-tick.C:
				c.AdvanceToNext()
			}
		}
	}()
	return func() { cancel(); <-done }
}

type fakeTimer struct {
	clock *FakeClock
	when  time.Time
	ch    chan time.Time
	fired bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.fired {
		return false
	}
	for i, o := range c.timers {
		if o == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			return true
		}
	}
	return false
}
