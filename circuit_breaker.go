package loom

import "time"

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

// CircuitBreaker stops calls to a failing dependency so it can recover, and
// makes callers fail fast meanwhile. It is safe for concurrent use; share one
// between all tasks of a type, or use Key for one breaker per downstream.
type CircuitBreaker struct {
	cfg BreakerConfig
}

// NewCircuitBreaker returns a closed breaker configured by cfg.
func NewCircuitBreaker(cfg BreakerConfig) (*CircuitBreaker, error) {
	panic("not implemented")
}

// Name returns the breaker's name.
func (b *CircuitBreaker) Name() string { return b.cfg.Name }

// Allow asks to make a call. It returns nil when the call may proceed (and
// the caller must then report its outcome with Record), or a
// *CircuitOpenError matching ErrCircuitOpen when the breaker refuses it.
func (b *CircuitBreaker) Allow() error { panic("not implemented") }

// Record reports the outcome of a call that Allow let through: nil for
// success, the call's error for failure. Errors marked Permanent count as
// successes of the dependency (it answered; the request was bad), as do
// context cancellations by the caller.
func (b *CircuitBreaker) Record(err error) { panic("not implemented") }

// State returns the breaker's current state, moving from open to half-open
// if the cool-down has passed.
func (b *CircuitBreaker) State() BreakerState { panic("not implemented") }

// Key returns the breaker for key: a breaker with the same configuration,
// named "name[key]", created on first use and then shared by every caller
// asking for the same key.
func (b *CircuitBreaker) Key(key string) *CircuitBreaker { panic("not implemented") }
