package loom

import (
	"encoding/json"
	"fmt"
	"time"
)

// TaskInfo is the task object of the durable engine: one request to run a
// task type, as the store keeps it and every surface (HTTP API, CLI, bus,
// UI) speaks it in JSON. Its field names follow the seeds, so a worker in
// any language that reads and writes this JSON can take part.
type TaskInfo struct {
	// ID is a UUID (version 7, so ids sort by creation time).
	ID string `json:"id"`
	// Type is the task type, the name a handler is registered under.
	Type string `json:"type"`
	// Queue is where the task waits for a worker. Default "default".
	Queue string `json:"queue"`
	// Info is free text for the worker (seed 003).
	Info string `json:"info,omitempty"`
	// Attributes are arbitrary settings the creator attaches (seed 002).
	Attributes map[string]any `json:"attributes,omitempty"`
	// Input is what the handler gets; Output what it returned.
	Input  Values `json:"input,omitempty"`
	Output Values `json:"output,omitempty"`
	// Status is pending, running, completed, failed or cancelled.
	Status Status `json:"status"`
	// Result is "complete" or "error" once the task ended (seed 003).
	Result TaskResult `json:"result,omitempty"`
	// Msg is the outcome in words: the error's text for failures.
	Msg string `json:"msg,omitempty"`
	// Created, Started and Ended are when the task was created, when its
	// latest attempt started, and when it ended.
	Created time.Time  `json:"created"`
	Started *time.Time `json:"started,omitempty"`
	Ended   *time.Time `json:"ended,omitempty"`
	// Timeout is when the task expires: a task not ended by then is failed
	// by the reaper. Default 6 hours after creation (seed 002).
	Timeout time.Time `json:"timeout"`
	// Attempt is the number of the latest attempt (0 before the first).
	Attempt int `json:"attempt"`
	// MaxAttempts is how many attempts the task may have. Default 1.
	MaxAttempts int `json:"max_attempts"`
	// Retry is the task's own retry policy, when its creator set one: how
	// long its retries wait (the type's RetryPolicy otherwise).
	Retry *TaskRetry `json:"retry,omitempty"`
	// LeaseExpiries is how often the task's lease expired: its worker died
	// or hung before it had a result. An attempt that had not started gave
	// its number back; too many that had make the engine fail the task.
	LeaseExpiries int `json:"lease_expiries,omitempty"`
	// TraceParent is the W3C Trace Context (traceparent header value) of
	// the span that created the task: its attempts' spans are children of
	// it, on any machine, and a flow's steps carry their flow's. Empty
	// when tracing is off.
	TraceParent string `json:"traceparent,omitempty"`
	// Progress is how far the latest attempt has got, as its handler
	// reported (ReportProgress); nil until it reports. A new attempt
	// starts without; an ended task keeps its last attempt's.
	Progress *Progress `json:"progress,omitempty"`
	// Priority orders tasks within a queue: higher runs first. Default 0.
	Priority int `json:"priority"`
	// IdempotencyKey, when set, makes a second submit with the same key
	// return this task instead of creating another.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// ParentID is the flow task this task is a step of.
	ParentID string `json:"parent_id,omitempty"`
	// Step is this task's step name within its parent flow.
	Step string `json:"step,omitempty"`
	// RunAt is the earliest time the task may start: later than Created for
	// scheduled tasks and for retries waiting out their backoff.
	RunAt time.Time `json:"run_at"`
	// WorkerID is the worker running the latest attempt.
	WorkerID string `json:"worker_id,omitempty"`
	// LeaseUntil is when a running task's lease lapses: a task whose worker
	// stops heart-beating is re-queued by the reaper after it.
	LeaseUntil *time.Time `json:"lease_until,omitempty"`
}

// TaskResult is the seed-003 outcome of an ended task.
type TaskResult string

// The two outcomes of an ended task.
const (
	ResultComplete TaskResult = "complete"
	ResultError    TaskResult = "error"
)

// DefaultTaskTimeout is how long after creation a task expires unless its
// creator says otherwise (seed 002).
const DefaultTaskTimeout = 6 * time.Hour

// DefaultQueue is the queue of a task that names none.
const DefaultQueue = "default"

// Clone returns a deep-enough copy of t for a caller to change freely.
func (t *TaskInfo) Clone() *TaskInfo {
	c := *t
	c.Attributes = cloneJSONMap(t.Attributes)
	c.Input = Values(cloneJSONMap(t.Input))
	c.Output = Values(cloneJSONMap(t.Output))
	if t.Retry != nil {
		r := *t.Retry
		c.Retry = &r
	}
	if t.Progress != nil {
		p := *t.Progress
		c.Progress = &p
	}
	return &c
}

func cloneJSONMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("loom: clone map: %v", err))
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("loom: clone map: %v", err))
	}
	return out
}
