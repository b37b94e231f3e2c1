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
	holds  int // work in flight (loom.Holder): AutoAdvance waits
	// changed is closed and replaced whenever a timer is added or a hold
	// taken or released.
	changed chan struct{}
}

var _ loom.Holder = (*FakeClock)(nil)

// NewFakeClock returns a clock that reads start. A zero start means
// 2026-01-01T00:00:00Z, so that tests print stable times.
func NewFakeClock(start time.Time) *FakeClock {
	if start.IsZero() {
		start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return &FakeClock{now: start, changed: make(chan struct{})}
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
	c.changedLocked()
	return t
}

func (c *FakeClock) changedLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Hold tells the clock that work is in flight: AutoAdvance does not move
// time until every hold is released. The durable engine holds its clock
// while it records results, dispatches and advances flows, and while a
// handler runs (but not while the handler waits in loom.Sleep), so that a
// deadline does not pass during real work. Advance and Set ignore holds.
func (c *FakeClock) Hold() (release func()) {
	c.mu.Lock()
	c.holds++
	c.changedLocked()
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.holds--
			c.changedLocked()
			c.mu.Unlock()
		})
	}
}

// NewHeldTimer is NewTimer whose firing holds the clock until release is
// called (see loom.Holder): AutoAdvance then cannot move on before the
// code woken by the timer has run.
func (c *FakeClock) NewHeldTimer(d time.Duration) (loom.Timer, func()) {
	lt := c.NewTimer(d)
	t := lt.(*fakeTimer)
	c.mu.Lock()
	if t.fired {
		// Fired at once (d <= 0): it holds from now.
		c.holds++
		t.holding = true
		c.changedLocked()
	} else {
		t.holdOnFire = true
	}
	c.mu.Unlock()
	return t, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		t.holdOnFire = false
		if t.holding {
			t.holding = false
			c.holds--
			c.changedLocked()
		}
	}
}

// Holds returns how many holds are out.
func (c *FakeClock) Holds() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.holds
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
			if t.holdOnFire {
				t.holdOnFire, t.holding = false, true
				c.holds++
				c.changedLocked()
			}
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
		have, added := len(c.timers), c.changed
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
	return c.advanceToNextLocked()
}

func (c *FakeClock) advanceToNextLocked() bool {
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
// returned stop is called, whenever timers are waiting, no hold is out
// (Hold) and nothing changed (no timer added, no hold taken or released)
// for settle of real time (default 2ms), it moves the clock to the
// earliest timer. A flow with retries, backoff, timeouts and breakers then
// runs in milliseconds. Timers fire in deadline order, so a task timeout
// still fires before a longer sleep in the handler; and a timeout does not
// fire while code that holds the clock (the durable engine recording a
// result, a handler in an HTTP call) is still at work.
func (c *FakeClock) AutoAdvance(ctx context.Context, settle time.Duration) (stop func()) {
	if settle <= 0 {
		settle = 2 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		quiet := time.NewTimer(settle)
		defer quiet.Stop()
		for {
			c.mu.Lock()
			changed, idle := c.changed, c.holds == 0 && len(c.timers) > 0
			c.mu.Unlock()
			if !idle {
				select {
				case <-ctx.Done():
					return
				case <-changed:
					continue
				}
			}
			quiet.Reset(settle)
			select {
			case <-ctx.Done():
				return
			case <-changed:
				continue // something is still setting up waits: let it settle
			case <-quiet.C:
			}
			c.mu.Lock()
			if c.changed == changed && c.holds == 0 {
				c.advanceToNextLocked()
			}
			c.mu.Unlock()
		}
	}()
	return func() { cancel(); <-done }
}

type fakeTimer struct {
	clock *FakeClock
	when  time.Time
	ch    chan time.Time
	fired bool
	// holdOnFire makes the timer hold the clock when it fires; holding
	// says it does, until its release (NewHeldTimer).
	holdOnFire, holding bool
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
