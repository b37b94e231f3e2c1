package loom

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrCircuitOpen is returned, wrapped in a *CircuitOpenError, when a call is
	// refused because its circuit breaker is open. Retry policies wait out the
	// breaker's remaining cool-down before the next attempt.
	ErrCircuitOpen = errors.New("loom: circuit breaker open")
	// ErrTimeout is the error of a task or flow that ran past its timeout.
	ErrTimeout = errors.New("loom: timed out")
	// ErrCancelled is the error of a task or flow whose context was cancelled.
	ErrCancelled = errors.New("loom: cancelled")
	// ErrInvalidFlow wraps every error found while validating a flow.
	ErrInvalidFlow = errors.New("loom: invalid flow")
	// ErrNotFound is returned when a run, record or task does not exist.
	ErrNotFound = errors.New("loom: not found")
	// ErrDuplicate is returned when something that must be unique exists already.
	ErrDuplicate = errors.New("loom: already exists")
)

// permanentError marks an error that no retry can fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: a retry policy never retries it. Use it
// for failures that will not go away by trying again (bad input, 404,
// rejected credentials). Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// retryAfterError asks for the next attempt no sooner than after.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string             { return e.err.Error() }
func (e *retryAfterError) Unwrap() error             { return e.err }
func (e *retryAfterError) RetryAfter() time.Duration { return e.after }

// RetryAfter wraps err to ask that the next attempt wait at least d (for
// example the Retry-After header of an HTTP 429 or 503). The retry policy
// still bounds the number of attempts. RetryAfter(nil, d) is nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, after: d}
}

// RetryAfterHint is implemented by errors that know when a retry may succeed:
// those made by RetryAfter and *CircuitOpenError.
type RetryAfterHint interface {
	RetryAfter() time.Duration
}

// retryAfterOf returns the delay an error in err's chain asks for, if any.
func retryAfterOf(err error) (time.Duration, bool) {
	var h RetryAfterHint
	if errors.As(err, &h) {
		return h.RetryAfter(), true
	}
	return 0, false
}

// CircuitOpenError is the error of a call refused by an open circuit breaker.
// It matches ErrCircuitOpen with errors.Is and says how long the breaker
// stays open.
type CircuitOpenError struct {
	// Breaker is the name (and key, if any) of the breaker that refused.
	Breaker string
	// Remaining is how long until the breaker lets a probe through.
	Remaining time.Duration
}

// Error says which breaker refused and for how long.
func (e *CircuitOpenError) Error() string {
	return fmt.Sprintf("circuit breaker %q open for another %s", e.Breaker, e.Remaining)
}

// Is makes errors.Is(err, ErrCircuitOpen) true.
func (e *CircuitOpenError) Is(target error) bool { return target == ErrCircuitOpen }

// RetryAfter is the breaker's remaining cool-down.
func (e *CircuitOpenError) RetryAfter() time.Duration { return e.Remaining }

// FlowError is a flow validation error. It names the flow and, where there is
// one, the step, and matches ErrInvalidFlow with errors.Is.
type FlowError struct {
	Flow string
	Step string
	Msg  string
}

// Error names the flow, the step if any, and the problem.
func (e *FlowError) Error() string {
	if e.Step != "" {
		return fmt.Sprintf("flow %q: step %q: %s", e.Flow, e.Step, e.Msg)
	}
	return fmt.Sprintf("flow %q: %s", e.Flow, e.Msg)
}

// Is makes errors.Is(err, ErrInvalidFlow) true.
func (e *FlowError) Is(target error) bool { return target == ErrInvalidFlow }
