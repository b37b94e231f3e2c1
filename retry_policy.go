package loom

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// RetryPolicy decides whether a failed attempt is tried again, and after how
// long. The zero value allows a single attempt.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts, the first included.
	// Zero or one means no retries.
	MaxAttempts int
	// InitialDelay is the wait before the second attempt.
	InitialDelay time.Duration
	// BackoffFactor multiplies the delay after each retry: 1 gives fixed
	// delays, 2 doubles them. Zero means 1 (fixed).
	BackoffFactor float64
	// MaxDelay caps any one delay; zero means no cap. A RetryAfterHint is
	// not capped: the server (or breaker) knows better than a guess made
	// in advance when a retry can succeed.
	MaxDelay time.Duration
	// Jitter spreads each delay by up to this fraction of it, at random,
	// both ways (0.2 gives ±20%), so that many failing tasks do not retry in
	// lock-step. Zero means none; values are clamped to [0, 1].
	Jitter float64
}

// FixedRetry returns a policy of maxAttempts attempts in all, waiting delay
// between each two. Set Jitter on the result when many tasks may fail
// together.
func FixedRetry(maxAttempts int, delay time.Duration) *RetryPolicy {
	return &RetryPolicy{MaxAttempts: maxAttempts, InitialDelay: delay, BackoffFactor: 1}
}

// ExponentialRetry returns a policy of maxAttempts attempts in all, waiting
// initial before the second and multiplying the wait by factor each time
// after, up to maxDelay (zero for no cap). Set Jitter on the result when
// many tasks may fail together.
func ExponentialRetry(maxAttempts int, initial time.Duration, factor float64, maxDelay time.Duration) *RetryPolicy {
	return &RetryPolicy{MaxAttempts: maxAttempts, InitialDelay: initial, BackoffFactor: factor, MaxDelay: maxDelay}
}

// Validate reports every setting of p that is out of range. Next copes with
// any values (it clamps them), so Validate is for catching mistakes where a
// policy is configured, not a precondition of using it. A nil policy is
// valid: it means one attempt.
func (p *RetryPolicy) Validate() error {
	if p == nil {
		return nil
	}
	var problems []string
	if p.MaxAttempts < 0 {
		problems = append(problems, fmt.Sprintf("MaxAttempts %d is negative", p.MaxAttempts))
	}
	if p.InitialDelay < 0 {
		problems = append(problems, fmt.Sprintf("InitialDelay %s is negative", p.InitialDelay))
	}
	if p.MaxDelay < 0 {
		problems = append(problems, fmt.Sprintf("MaxDelay %s is negative", p.MaxDelay))
	}
	if f := p.BackoffFactor; math.IsNaN(f) || math.IsInf(f, 0) || (f != 0 && f < 1) {
		problems = append(problems, fmt.Sprintf("BackoffFactor %g must be 0 (fixed) or a finite number >= 1", f))
	}
	if j := p.Jitter; math.IsNaN(j) || j < 0 || j > 1 {
		problems = append(problems, fmt.Sprintf("Jitter %g is outside [0, 1]", j))
	}
	if len(problems) > 0 {
		return fmt.Errorf("loom: invalid retry policy: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Next reports whether a task whose attempt number attempt (counting from 1)
// failed with err should be tried again, and how long to wait first.
// Permanent errors are never retried; an error carrying a RetryAfterHint
// (RetryAfter, an open circuit breaker) waits at least as long as it asks.
//
// A cancelled attempt (context.Canceled, ErrCancelled) is not retried, since
// whoever cancelled it no longer wants the result; a timed-out one
// (context.DeadlineExceeded, ErrTimeout) is, since the next attempt may be
// faster. An error that says both counts as a timeout.
func (p *RetryPolicy) Next(attempt int, err error) (delay time.Duration, retry bool) {
	if p == nil || p.MaxAttempts <= 1 || err == nil {
		return 0, false
	}
	if attempt < 1 {
		attempt = 1
	}
	if attempt >= p.MaxAttempts || IsPermanent(err) || cancelledByCaller(err) {
		return 0, false
	}
	delay = p.backoff(attempt)
	if hint, ok := retryAfterOf(err); ok && hint > delay {
		delay = hint
	}
	return delay, true
}

// maxDuration is the longest time.Duration, where delays saturate instead of
// overflowing.
const maxDuration = time.Duration(math.MaxInt64)

// backoff is the jittered, capped delay after the failed attempt attempt.
// It works in float64 so that a huge attempt number or factor saturates at
// the cap rather than wrapping around to a negative duration.
func (p *RetryPolicy) backoff(attempt int) time.Duration {
	if p.InitialDelay <= 0 {
		return 0
	}
	limit := float64(maxDuration)
	if p.MaxDelay > 0 {
		limit = float64(p.MaxDelay)
	}
	d := float64(p.InitialDelay)
	if f := p.BackoffFactor; f > 1 && !math.IsInf(f, 1) {
		d *= math.Pow(f, float64(attempt-1)) // +Inf when huge; capped below
	}
	// Cap before jittering too, so that jitter never multiplies +Inf by 0.
	d = math.Min(d, limit)
	if j := clampJitter(p.Jitter); j > 0 {
		d *= 1 + j*(2*rand.Float64()-1)
	}
	d = math.Max(0, math.Min(d, limit))
	if d >= float64(maxDuration) {
		return maxDuration
	}
	return time.Duration(d)
}

func clampJitter(j float64) float64 {
	if math.IsNaN(j) || j < 0 {
		return 0
	}
	return math.Min(j, 1)
}

// cancelledByCaller reports whether err says that whoever started the call
// gave up on it, rather than that the call failed: such an error deserves no
// retry and says nothing about the health of a circuit breaker's dependency.
// A timeout wins when err says both, because a context ended by WithTimeout
// on an injected clock reports context.Canceled from Err even though its
// cause is the deadline.
func cancelledByCaller(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) {
		return false
	}
	return errors.Is(err, context.Canceled) || errors.Is(err, ErrCancelled)
}
