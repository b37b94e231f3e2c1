package loom

import (
	"context"
	"time"
)

// Idempotency makes a task run at most once per key. Three settings are kept
// apart, because they answer three different questions:
//
//   - Window: how long a completed run's key is remembered. A run with the
//     same key within the window returns the recorded Result and the handler
//     does not run again; after it, the key is forgotten and a new run runs.
//   - LockTTL: how long an in-flight run holds its key. While held, a
//     concurrent run with the same key waits for the first one and returns
//     its Result; if the holder vanishes (a crashed process), the lock lapses
//     after LockTTL and the next run takes it over.
//   - OnFailure: what a failed run does to its key: released (the default,
//     so a later retry runs) or kept (the failure is recorded and returned to
//     later runs within the window, as a completed run's result is).
//
// The key is either given per run (WithIdempotencyKey) or derived by Key
// from the inputs; by default from the task name and the canonical JSON of
// the inputs.
type Idempotency struct {
	// Key derives the key from the inputs. Nil means the task name plus a
	// SHA-256 of the inputs' canonical JSON.
	Key func(in Values) (string, error)
	// Window is how long a completed key is remembered. Default 24 hours.
	Window time.Duration
	// LockTTL is how long an in-flight run holds its key before another may
	// take it over. It must exceed the run's longest duration, retries
	// included. Default 15 minutes.
	LockTTL time.Duration
	// OnFailure says what a failed run does to its key. Default
	// ReleaseOnFailure.
	OnFailure FailureKeyPolicy
}

// FailureKeyPolicy says what a failed run does to its idempotency key.
type FailureKeyPolicy int

const (
	// ReleaseOnFailure forgets the key of a failed run, so the next run with
	// the key runs the handler again.
	ReleaseOnFailure FailureKeyPolicy = iota
	// KeepOnFailure records a failed run like a completed one: later runs
	// within the window return the failure without running.
	KeepOnFailure
)

// IdempotencyRecord is what a StateManager keeps for one idempotency key.
type IdempotencyRecord struct {
	// Key is the idempotency key.
	Key string `json:"key"`
	// Status is StatusRunning while a run holds the key, and the run's final
	// status once recorded.
	Status Status `json:"status"`
	// RunID is the run that holds or recorded the key.
	RunID string `json:"run_id"`
	// Result is the recorded outcome, set once the run ended.
	Result *Result `json:"result,omitempty"`
	// LockedUntil is when an in-flight run's lock lapses.
	LockedUntil time.Time `json:"locked_until"`
	// ExpiresAt is when a recorded result is forgotten.
	ExpiresAt time.Time `json:"expires_at"`
}

// IdempotencyStore keeps idempotency records. It is part of StateManager, so
// the durable engine's store makes the records survive restarts.
type IdempotencyStore interface {
	// AcquireKey takes key for runID unless another run holds it or has
	// recorded a result that has not expired. It returns acquired=true and
	// the new record when taken; otherwise acquired=false and the existing
	// record (in flight, or with a Result to return).
	AcquireKey(ctx context.Context, key, runID string, now time.Time, lockTTL time.Duration) (rec IdempotencyRecord, acquired bool, err error)
	// CompleteKey records the result of the run holding key, remembered
	// until expires.
	CompleteKey(ctx context.Context, key string, result *Result, expires time.Time) error
	// ReleaseKey forgets key, so the next run takes it.
	ReleaseKey(ctx context.Context, key string) error
}

// KeyWaiter is implemented by an IdempotencyStore that can tell when a key
// changes, so a duplicate run waits for the first one without polling.
type KeyWaiter interface {
	// KeyChanged returns a channel closed once key is completed, released or
	// taken over.
	KeyChanged(key string) <-chan struct{}
}
