package bus

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/loomhq/loom"
)

// The values of Message.Result, as seed 003 names them.
const (
	// ResultComplete marks a task that finished successfully.
	ResultComplete = "complete"
	// ResultError marks a task whose attempt failed; Msg says why.
	ResultError = "error"
)

// Message is a task on the bus, in the JSON shape of the task object: seed
// 003's {type, info, created, result, msg, started, ended} plus what the
// engine needs (id, queue, attempt, priority, attributes, input, output,
// lease). docs/worker-protocol.md documents it, and
// docs/schema/task-message.schema.json is its JSON Schema. A worker
// in any language can read a ready message and answer with a done one by
// adding result, msg, started and ended.
//
// A bus does not copy Input or Output: treat them as read-only once
// published or received.
type Message struct {
	// ID is the task's id, together with Attempt the key under which the
	// store settles a delivery exactly once. Seed 003 tasks made outside
	// loom may lack it.
	ID string `json:"id,omitempty"`
	// Type is the task type: what a worker looks up to know what to run.
	Type string `json:"type"`
	// Queue is the queue the task was published to; Publish sets it.
	Queue string `json:"queue,omitempty"`
	// Attempt numbers the task's attempts from 1; zero when unknown.
	Attempt int `json:"attempt,omitempty"`
	// Priority is carried for workers and observers; buses deliver in
	// publish order regardless, so the engine publishes in priority order.
	Priority int `json:"priority,omitempty"`
	// Info is seed 003's free-form information for the worker.
	Info string `json:"info,omitempty"`
	// Attributes are the settings the task's creator attached (seed
	// 002), a JSON object, for the worker to read.
	Attributes map[string]any `json:"attributes,omitempty"`
	// Input is the task's input, a JSON value.
	Input json.RawMessage `json:"input,omitempty"`
	// Created is when the task was created.
	Created time.Time `json:"created,omitzero"`

	// Result is ResultComplete or ResultError on a done message, empty on a
	// ready one.
	Result string `json:"result,omitempty"`
	// Msg is a human-readable account of the result, the error's text when
	// Result is ResultError.
	Msg string `json:"msg,omitempty"`
	// Output is what the task produced, a JSON value.
	Output json.RawMessage `json:"output,omitempty"`
	// Started and Ended bound the attempt that produced the result.
	Started *time.Time `json:"started,omitempty"`
	Ended   *time.Time `json:"ended,omitempty"`

	// Timeout is when the task expires (seed 002's timeout): a worker stops
	// its handler by then, since a result after it is not recorded. Zero
	// when unknown (no deadline).
	Timeout time.Time `json:"timeout,omitzero"`
	// MaxAttempts is the task's attempt budget, so that a handler can tell
	// its last attempt; zero when unknown.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Retry is the task's own retry policy, if it has one; a worker
	// sends it back with the result, so that whichever engine records
	// the result waits as the task asked.
	Retry *loom.TaskRetry `json:"retry,omitempty"`
	// Permanent, on a done message with Result ResultError, says that no
	// retry can help (bad input, the task's deadline passed): the engine
	// then fails the task without spending its remaining attempts. Workers
	// that never set it get the task type's retry policy.
	Permanent bool `json:"permanent,omitempty"`
	// RetryAfterMS, on a done message with Result ResultError, asks that
	// the next attempt start no sooner than this many milliseconds after
	// the result (an HTTP 429's Retry-After, an open circuit breaker's
	// cool-down). The retry policy's own backoff applies when it is longer.
	// Milliseconds, not a Go duration, so workers in any language can set it.
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`

	// TraceParent is the W3C Trace Context (a traceparent header's value)
	// of the task's span, on a ready message: a worker starts the
	// attempt's span as its child, and passes it on to what the attempt
	// calls. Optional: empty when tracing is off, and a worker that does
	// not trace may ignore it.
	TraceParent string `json:"traceparent,omitempty"`

	// Progress is how far the attempt has got, as its handler reported
	// (loom.ReportProgress): on a done message, its last report. A message
	// with Progress and no Result is a progress message: a worker
	// publishes it with the done messages while the attempt runs (at most
	// a few a second), and the engine keeps it on the task. Optional.
	Progress *loom.Progress `json:"progress,omitempty"`

	// Lease is set by the engine when it hands the attempt out and must come
	// back unchanged on the done message; buses never look inside it.
	Lease string `json:"lease,omitempty"`
}

// ValidateReady reports why m cannot be published as a ready task: it
// already carries a result, or its Input is not valid JSON. Backends call it
// in Publish so that a bad message fails the same way on every bus.
func (m *Message) ValidateReady() error {
	if m.Result != "" {
		return m.invalid("ready message has result %q", m.Result)
	}
	return m.validateJSON()
}

// IsProgress reports whether m is a progress message (Progress set, no
// Result) rather than a done task.
func (m *Message) IsProgress() bool { return m.Result == "" && m.Progress != nil }

// ValidateDone reports why m cannot be published as a done task or a
// progress message: its Result is not ResultComplete or ResultError (or
// empty with Progress set), a progress count is negative, RetryAfterMS is
// negative, or Input or Output is not valid JSON.
func (m *Message) ValidateDone() error {
	if p := m.Progress; p != nil && (p.Done < 0 || p.Total < 0) {
		return m.invalid("progress %d/%d is negative", p.Done, p.Total)
	}
	if m.IsProgress() {
		if m.ID == "" || m.Attempt < 1 {
			return m.invalid("progress message needs the task's id and attempt")
		}
		return m.validateJSON()
	}
	if m.Result != ResultComplete && m.Result != ResultError {
		return m.invalid("done message has result %q, want %q or %q", m.Result, ResultComplete, ResultError)
	}
	if m.RetryAfterMS < 0 {
		return m.invalid("retry_after_ms %d is negative", m.RetryAfterMS)
	}
	return m.validateJSON()
}

func (m *Message) validateJSON() error {
	if len(m.Input) > 0 && !json.Valid(m.Input) {
		return m.invalid("input is not valid JSON")
	}
	if len(m.Output) > 0 && !json.Valid(m.Output) {
		return m.invalid("output is not valid JSON")
	}
	return nil
}

func (m *Message) invalid(format string, args ...any) error {
	return fmt.Errorf("%w: task %q attempt %d: %s", ErrInvalidMessage, m.ID, m.Attempt, fmt.Sprintf(format, args...))
}
