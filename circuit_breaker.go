package loom

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
)

// BreakerState is the state of a circuit breaker.
type BreakerState string

// The three states of a circuit breaker.
const (
	// BreakerClosed lets every call through and counts failures.
	BreakerClosed BreakerState = "closed"
	// BreakerOpen refuses every call until the cool-down has passed.
	BreakerOpen BreakerState = "open"
	// BreakerHalfOpen lets a few probe calls through: their success closes
	// the breaker, a failure opens it again.
	BreakerHalfOpen BreakerState = "half_open"
)

// BreakerConfig configures a CircuitBreaker. Zero values mean the defaults
// stated on each field.
type BreakerConfig struct {
	// Name identifies the breaker in errors, events and metrics. Required.
	Name string
	// FailureThreshold opens the breaker after this many failures within
	// Window. Default 5 (when FailureRatio is also zero).
	FailureThreshold int
	// FailureRatio, when set (0 < r <= 1), opens the breaker when failures
	// make up at least this share of the calls within Window, once
	// MinRequests calls were seen.
	FailureRatio float64
	// MinRequests is the fewest calls within Window before FailureRatio is
	// judged. Default 10.
	MinRequests int
	// Window is how far back failures are counted. Default 1 minute.
	Window time.Duration
	// Cooldown is how long the breaker stays open before it lets probes
	// through. Default 30 seconds.
	Cooldown time.Duration
	// HalfOpenProbes is how many calls are let through while half-open;
	// that many successes close the breaker. Default 1.
	HalfOpenProbes int
	// Clock drives the window and the cool-down. Default SystemClock.
	Clock Clock
	// OnStateChange, when set, is called after every transition, with the
	// breaker's name (including its key, for keyed breakers).
	OnStateChange func(name string, from, to BreakerState)
}

// Defaults of BreakerConfig, as documented on its fields.
const (
	defaultFailureThreshold = 5
	defaultMinRequests      = 10
	defaultWindow           = time.Minute
	defaultCooldown         = 30 * time.Second
	defaultHalfOpenProbes   = 1
)

// withDefaults returns cfg with every zero value replaced by its default; it
// is the one place those defaults are chosen.
func (cfg BreakerConfig) withDefaults() BreakerConfig {
	if cfg.FailureThreshold == 0 && cfg.FailureRatio == 0 {
		cfg.FailureThreshold = defaultFailureThreshold
	}
	if cfg.MinRequests == 0 {
		cfg.MinRequests = defaultMinRequests
	}
	if cfg.Window == 0 {
		cfg.Window = defaultWindow
	}
	if cfg.Cooldown == 0 {
		cfg.Cooldown = defaultCooldown
	}
	if cfg.HalfOpenProbes == 0 {
		cfg.HalfOpenProbes = defaultHalfOpenProbes
	}
	cfg.Clock = clockOrDefault(cfg.Clock)
	return cfg
}

// validate reports every setting of cfg that is out of range. It expects
// defaults to be filled in, so zero values left over are mistakes.
func (cfg BreakerConfig) validate() error {
	var problems []string
	if strings.TrimSpace(cfg.Name) == "" {
		problems = append(problems, "Name is required")
	}
	if cfg.FailureThreshold < 0 {
		problems = append(problems, fmt.Sprintf("FailureThreshold %d is negative", cfg.FailureThreshold))
	}
	if r := cfg.FailureRatio; math.IsNaN(r) || r < 0 || r > 1 {
		problems = append(problems, fmt.Sprintf("FailureRatio %g is outside (0, 1]", r))
	}
	if cfg.MinRequests < 0 {
		problems = append(problems, fmt.Sprintf("MinRequests %d is negative", cfg.MinRequests))
	}
	if cfg.Window < 0 {
		problems = append(problems, fmt.Sprintf("Window %s is negative", cfg.Window))
	}
	if cfg.Cooldown < 0 {
		problems = append(problems, fmt.Sprintf("Cooldown %s is negative", cfg.Cooldown))
	}
	if cfg.HalfOpenProbes < 0 {
		problems = append(problems, fmt.Sprintf("HalfOpenProbes %d is negative", cfg.HalfOpenProbes))
	}
	if len(problems) > 0 {
		return fmt.Errorf("loom: invalid circuit breaker config %q: %s", cfg.Name, strings.Join(problems, "; "))
	}
	return nil
}

// trips reports whether failed failures out of total calls within the
// window are enough to open the breaker.
func (cfg BreakerConfig) trips(failed, total int) bool {
	if cfg.FailureThreshold > 0 && failed >= cfg.FailureThreshold {
		return true
	}
	return cfg.FailureRatio > 0 && total >= cfg.MinRequests &&
		float64(failed) >= cfg.FailureRatio*float64(total)
}

// CircuitBreaker stops calls to a failing dependency so it can recover, and
// makes callers fail fast meanwhile. It is safe for concurrent use; share one
// between all tasks of a type, or use Key for one breaker per downstream.
//
// A probe let through while half-open whose outcome is not recorded within
// Cooldown is presumed lost, and another probe is let through in its place,
// so that a caller that never calls Record cannot hold the breaker half-open
// for ever. A probe cancelled by its caller proves nothing either way, and
// its slot goes to the next caller.
type CircuitBreaker struct {
	cfg BreakerConfig // defaults filled in; Name includes the key

	mu         sync.Mutex
	state      BreakerState
	window     outcomeWindow // outcomes while closed
	openUntil  time.Time     // while open: when probes may start
	probesOut  int           // while half-open: probes let through, outcome not yet recorded
	probesOK   int           // while half-open: probes that succeeded
	probeLease time.Time     // while half-open: when probesOut are presumed lost
	pending    []transition  // transitions not yet passed to OnStateChange
	delivering bool          // a goroutine is passing pending to OnStateChange

	keys sync.Map // key -> *CircuitBreaker
}

type transition struct{ from, to BreakerState }

// NewCircuitBreaker returns a closed breaker configured by cfg.
func NewCircuitBreaker(cfg BreakerConfig) (*CircuitBreaker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return newCircuitBreaker(cfg), nil
}

// MustCircuitBreaker is NewCircuitBreaker for breakers built from constant
// configuration, such as package-level variables: it panics if cfg is
// invalid, since that is a programming error best caught at start-up.
func MustCircuitBreaker(cfg BreakerConfig) *CircuitBreaker {
	b, err := NewCircuitBreaker(cfg)
	if err != nil {
		panic(err)
	}
	return b
}

// newCircuitBreaker builds a breaker from a config already defaulted and
// validated.
func newCircuitBreaker(cfg BreakerConfig) *CircuitBreaker {
	return &CircuitBreaker{
		cfg:    cfg,
		state:  BreakerClosed,
		window: newOutcomeWindow(cfg.Clock.Now(), cfg.Window),
	}
}

// Name returns the breaker's name.
func (b *CircuitBreaker) Name() string { return b.cfg.Name }

// Allow asks to make a call. It returns nil when the call may proceed (and
// the caller must then report its outcome with Record), or a
// *CircuitOpenError matching ErrCircuitOpen when the breaker refuses it.
func (b *CircuitBreaker) Allow() error {
	var err error
	b.mu.Lock()
	now := b.cfg.Clock.Now()
	b.advance(now)
	switch b.state {
	case BreakerOpen:
		err = &CircuitOpenError{Breaker: b.cfg.Name, Remaining: b.openUntil.Sub(now)}
	case BreakerHalfOpen:
		if b.probesOut+b.probesOK < b.cfg.HalfOpenProbes {
			b.probesOut++
			b.probeLease = now.Add(b.cfg.Cooldown)
		} else {
			// The slots are taken by probes still out: the next one frees
			// when they report or their lease runs out.
			err = &CircuitOpenError{Breaker: b.cfg.Name, Remaining: b.probeLease.Sub(now)}
		}
	}
	b.mu.Unlock()
	b.notify()
	return err
}

// Record reports the outcome of a call that Allow let through: nil for
// success, the call's error for failure. Errors marked Permanent count as
// successes of the dependency (it answered; the request was bad), as do
// context cancellations by the caller.
func (b *CircuitBreaker) Record(err error) {
	cancelled := cancelledByCaller(err)
	failed := err != nil && !IsPermanent(err) && !cancelled
	b.mu.Lock()
	now := b.cfg.Clock.Now()
	switch b.state {
	case BreakerClosed:
		b.window.add(now, failed)
		if failed && b.cfg.trips(b.window.counts(now)) {
			b.setState(BreakerOpen, now)
		}
	case BreakerHalfOpen:
		if b.probesOut > 0 {
			b.probesOut--
		}
		switch {
		case failed:
			b.setState(BreakerOpen, now)
		case cancelled:
			// The dependency never answered this probe, so it proves
			// nothing either way: its slot goes to the next caller.
		default:
			b.probesOK++
			if b.probesOK >= b.cfg.HalfOpenProbes {
				b.setState(BreakerClosed, now)
			}
		}
	case BreakerOpen:
		// The call was let through before the breaker opened: its outcome
		// tells nothing the failures that opened it did not, and must not
		// stand in for a probe once the cool-down has passed.
	}
	b.mu.Unlock()
	b.notify()
}

// State returns the breaker's current state, moving from open to half-open
// if the cool-down has passed.
func (b *CircuitBreaker) State() BreakerState {
	b.mu.Lock()
	b.advance(b.cfg.Clock.Now())
	s := b.state
	b.mu.Unlock()
	b.notify()
	return s
}

// Key returns the breaker for key: a breaker with the same configuration,
// named "name[key]", created on first use and then shared by every caller
// asking for the same key. Keyed breakers are kept for the life of b, so
// keys should come from a bounded set (hosts, tenants), not from ids.
func (b *CircuitBreaker) Key(key string) *CircuitBreaker {
	if c, ok := b.keys.Load(key); ok {
		return c.(*CircuitBreaker)
	}
	cfg := b.cfg
	cfg.Name = b.cfg.Name + "[" + key + "]"
	c, _ := b.keys.LoadOrStore(key, newCircuitBreaker(cfg))
	return c.(*CircuitBreaker)
}

// advance makes the transitions that the passing of time alone brings about.
// The caller holds b.mu.
func (b *CircuitBreaker) advance(now time.Time) {
	if b.state == BreakerOpen && !now.Before(b.openUntil) {
		b.setState(BreakerHalfOpen, now)
	}
	if b.state == BreakerHalfOpen && b.probesOut > 0 && !now.Before(b.probeLease) {
		b.probesOut = 0
	}
}

// setState moves b to state to, starting that state afresh, and queues the
// transition for OnStateChange. The caller holds b.mu and calls notify after
// releasing it.
func (b *CircuitBreaker) setState(to BreakerState, now time.Time) {
	from := b.state
	if from == to {
		return
	}
	b.state = to
	b.probesOut, b.probesOK = 0, 0
	switch to {
	case BreakerOpen:
		b.openUntil = now.Add(b.cfg.Cooldown)
	case BreakerClosed:
		// Failures from before the breaker opened must not trip it again
		// the moment it closes.
		b.window.reset()
	}
	if b.cfg.OnStateChange != nil {
		b.pending = append(b.pending, transition{from: from, to: to})
	}
}

// notify passes queued transitions to OnStateChange, outside b.mu so that a
// listener may call back into the breaker. Only one goroutine delivers at a
// time, so the listener sees transitions one by one and in the order they
// happened; a transition queued meanwhile (by another goroutine, or by the
// listener itself) is delivered by the goroutine already delivering.
func (b *CircuitBreaker) notify() {
	if b.cfg.OnStateChange == nil {
		return
	}
	b.mu.Lock()
	if b.delivering || len(b.pending) == 0 {
		b.mu.Unlock()
		return
	}
	b.delivering = true
	done := false
	defer func() {
		if !done { // the listener panicked: let the next caller deliver
			b.mu.Lock()
			b.delivering = false
			b.mu.Unlock()
		}
	}()
	for len(b.pending) > 0 {
		t := b.pending[0]
		b.pending = b.pending[1:]
		b.mu.Unlock()
		b.cfg.OnStateChange(b.cfg.Name, t.from, t.to)
		b.mu.Lock()
	}
	b.pending = nil
	b.delivering = false
	done = true
	b.mu.Unlock()
}

// windowBuckets is how many buckets an outcomeWindow divides its span into:
// more buckets count more precisely, at a little more memory and work.
const windowBuckets = 10

// outcomeWindow counts successes and failures over a sliding span of time in
// a fixed ring of buckets, so that its memory stays the same however many
// calls are made. An outcome is forgotten between span·(n-1)/n and span
// after it was added, n being windowBuckets (or after n nanoseconds, for
// spans too short to divide).
type outcomeWindow struct {
	start   time.Time     // bucket i covers [start+i·width, start+(i+1)·width)
	width   time.Duration // of one bucket
	buckets [windowBuckets]outcomeBucket
}

type outcomeBucket struct {
	index      int64 // which bucket of time the counts belong to
	ok, failed int
}

func newOutcomeWindow(start time.Time, span time.Duration) outcomeWindow {
	return outcomeWindow{start: start, width: max(span/windowBuckets, 1)}
}

func (w *outcomeWindow) index(now time.Time) int64 {
	return int64(max(now.Sub(w.start), 0) / w.width)
}

func (w *outcomeWindow) add(now time.Time, failed bool) {
	i := w.index(now)
	bk := &w.buckets[i%windowBuckets]
	if bk.index != i {
		*bk = outcomeBucket{index: i}
	}
	if failed {
		bk.failed++
	} else {
		bk.ok++
	}
}

// counts returns the failures and all outcomes within the window at now.
func (w *outcomeWindow) counts(now time.Time) (failed, total int) {
	i := w.index(now)
	for _, bk := range w.buckets {
		if bk.index > i-windowBuckets && bk.index <= i {
			failed += bk.failed
			total += bk.ok + bk.failed
		}
	}
	return failed, total
}

func (w *outcomeWindow) reset() {
	w.buckets = [windowBuckets]outcomeBucket{}
}
