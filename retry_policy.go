package loom

import "time"

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
	// MaxDelay caps any one delay; zero means no cap.
	MaxDelay time.Duration
	// Jitter spreads each delay by up to this fraction of it, at random,
	// both ways (0.2 gives ±20%), so that many failing tasks do not retry in
	// lock-step. Zero means none; values are clamped to [0, 1].
	Jitter float64
}

// Next reports whether a task whose attempt number attempt (counting from 1)
// failed with err should be tried again, and how long to wait first.
// Permanent errors are never retried; an error carrying a RetryAfterHint
// (RetryAfter, an open circuit breaker) waits at least as long as it asks.
func (p *RetryPolicy) Next(attempt int, err error) (delay time.Duration, retry bool) {
	panic("not implemented")
}
