package loom

import (
	"fmt"
	"time"
)

// Result is the outcome of running a task or flow: the seed's TaskResult.
type Result struct {
	// RunID identifies this run in state and events.
	RunID string `json:"run_id"`
	// Name is the task's name (or the step's name inside a flow).
	Name string `json:"name"`
	// Status is the final status: completed, failed, skipped or cancelled.
	Status Status `json:"status"`
	// Output is what the handler returned (for a flow: the union of the
	// keys its steps provide).
	Output Values `json:"output,omitempty"`
	// Err is the error of the last attempt, nil when completed. It is not
	// serialised: Message carries its text.
	Err error `json:"-"`
	// Message is Err's text, kept when a result is stored and read back.
	Message string `json:"msg,omitempty"`
	// Attempts is how many times the handler ran.
	Attempts int `json:"attempts"`
	// Started and Ended bound the run, all attempts and backoff included.
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// Steps holds each step's result, by step name, when the task is a flow.
	Steps map[string]*Result `json:"steps,omitempty"`
	// Replayed is true when the result was recorded by an earlier run with the
	// same idempotency key and returned without running the handler again.
	Replayed bool `json:"replayed,omitempty"`
}

// Completed reports whether the run completed successfully (the seed's
// is_completed).
func (r *Result) Completed() bool { return r != nil && r.Status == StatusCompleted }

// Duration is how long the run took, backoff between attempts included.
func (r *Result) Duration() time.Duration {
	if r.Started.IsZero() || r.Ended.IsZero() {
		return 0
	}
	return r.Ended.Sub(r.Started)
}

// RunError is the error Execute returns when a run ends other than
// completed. It carries the full Result, and unwraps to the last attempt's
// error so errors.Is(err, ErrTimeout) and friends work.
type RunError struct {
	Result *Result
}

// Error names the task, how it ended, after how many attempts, and why.
func (e *RunError) Error() string {
	if e.Result.Err != nil {
		return fmt.Sprintf("%s %s after %d attempt(s): %v", e.Result.Name, e.Result.Status, e.Result.Attempts, e.Result.Err)
	}
	return fmt.Sprintf("%s %s after %d attempt(s): %s", e.Result.Name, e.Result.Status, e.Result.Attempts, e.Result.Message)
}

// Unwrap returns the last attempt's error.
func (e *RunError) Unwrap() error { return e.Result.Err }
