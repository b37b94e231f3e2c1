package engine

import (
	"time"

	"github.com/loomhq/loom"
)

// SubmitParams describe one task to create.
type SubmitParams struct {
	// Type is the registered task type (or flow) to run. Required.
	Type string
	// Input is what the handler gets.
	Input loom.Values
	// ID, when set, is the task's id; default a new UUIDv7.
	ID string
	// Queue is where the task waits. Default: the queue its type was
	// registered with (WithQueue), else "default".
	Queue string
	// Info is free text for the worker (seed 003).
	Info string
	// Attributes are arbitrary settings for whoever runs the task (seed
	// 002).
	Attributes map[string]any
	// Priority orders tasks within a queue, higher first. Default 0.
	Priority int
	// IdempotencyKey, when set, makes a second submit with the same key
	// return the first task (created=false) instead of creating another.
	IdempotencyKey string
	// RunAt delays the first attempt; zero means now.
	RunAt time.Time
	// Timeout is how long after creation the task expires: not ended by
	// then, it is failed. Default loom.DefaultTaskTimeout (6h).
	Timeout time.Duration
	// MaxAttempts overrides the attempt budget; default the type's
	// RetryPolicy.MaxAttempts, at least 1.
	MaxAttempts int
	// Retry, when set, is how long this task's retries wait, in place of
	// its type's RetryPolicy delays; the task needs MaxAttempts (its own
	// or its type's) of 2 or more for it to matter, and is refused
	// otherwise.
	Retry *loom.TaskRetry
}

// SubmitResult is the outcome of one submit in SubmitMany.
type SubmitResult struct {
	// Task is the created task, or the existing one with the same
	// idempotency key.
	Task *loom.TaskInfo
	// Created is false when an existing task was returned.
	Created bool
}
