package loom

import (
	"encoding/json"
	"fmt"
	"time"
)

// TaskRetry is the retry policy a task object carries when its creator
// chose one (the "retry" field of POST /api/v1/tasks, `loom submit
// --backoff`): how long its retries wait. How many attempts it has is the
// task's MaxAttempts. It takes the place of its type's RetryPolicy delays
// for that one task. In JSON the delays are Go duration strings ("2s",
// "5m").
type TaskRetry struct {
	// InitialDelay is the wait before the second attempt.
	InitialDelay Duration `json:"initial_delay"`
	// BackoffFactor multiplies the delay after each retry; 0 or 1 gives
	// fixed delays.
	BackoffFactor float64 `json:"backoff_factor,omitempty"`
	// MaxDelay caps any one delay; zero means no cap.
	MaxDelay Duration `json:"max_delay,omitempty"`
	// Jitter spreads each delay by up to this fraction of it, both ways.
	Jitter float64 `json:"jitter,omitempty"`
}

// Policy returns r as a RetryPolicy of maxAttempts attempts; nil for a
// nil r.
func (r *TaskRetry) Policy(maxAttempts int) *RetryPolicy {
	if r == nil {
		return nil
	}
	return &RetryPolicy{
		MaxAttempts: maxAttempts, InitialDelay: time.Duration(r.InitialDelay),
		BackoffFactor: r.BackoffFactor, MaxDelay: time.Duration(r.MaxDelay), Jitter: r.Jitter,
	}
}

// Duration is a time.Duration that JSON spells as a Go duration string
// ("1m30s").
type Duration time.Duration

// String returns the duration as time.Duration prints it.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string such as "2s" or "5m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string like \"2s\", not %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration like \"2s\" or \"5m\"", s)
	}
	*d = Duration(v)
	return nil
}
