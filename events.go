package loom

import (
	"context"
	"time"
)

// EventType names what happened.
type EventType string

// The events loom emits. Task events are emitted for every run of a task,
// including each step of a flow.
const (
	EventTaskStarted   EventType = "task.started"   // an attempt began
	EventTaskRetrying  EventType = "task.retrying"  // an attempt failed; another follows after Delay
	EventTaskCompleted EventType = "task.completed" // the run completed
	EventTaskFailed    EventType = "task.failed"    // the run failed after its last attempt
	EventTaskCancelled EventType = "task.cancelled" // the run was cancelled
	EventTaskSkipped   EventType = "task.skipped"   // a flow step's condition was false
	EventTaskReplayed  EventType = "task.replayed"  // an idempotency key returned a recorded result
	EventFlowStarted   EventType = "flow.started"   // a flow run began
	EventFlowCompleted EventType = "flow.completed" // every step completed or was skipped
	EventFlowFailed    EventType = "flow.failed"    // a step failed; compensation (if any) ran
	EventCompensated   EventType = "flow.compensated"
	EventBreakerOpened EventType = "breaker.opened"
	EventBreakerHalf   EventType = "breaker.half_open"
	EventBreakerClosed EventType = "breaker.closed"
)

// Event is one thing that happened to a run, a flow or a breaker.
type Event struct {
	// Type says what happened.
	Type EventType `json:"type"`
	// Time is when, on the executor's clock.
	Time time.Time `json:"time"`
	// RunID is the run the event is about (empty for breaker events).
	RunID string `json:"run_id,omitempty"`
	// FlowRunID is the flow run a step's run belongs to, if any.
	FlowRunID string `json:"flow_run_id,omitempty"`
	// Task is the task (or flow) name; Step the step's name in its flow.
	Task string `json:"task,omitempty"`
	Step string `json:"step,omitempty"`
	// Attempt is the attempt number, from 1, for task events.
	Attempt int `json:"attempt,omitempty"`
	// Delay is the backoff before the next attempt, for task.retrying.
	Delay time.Duration `json:"delay,omitempty"`
	// Error is the error's text, for failures and retries.
	Error string `json:"error,omitempty"`
	// Output is the run's output, for completions.
	Output Values `json:"output,omitempty"`
	// Breaker is the breaker's name, for breaker events.
	Breaker string `json:"breaker,omitempty"`
}

// Listener receives events. It runs in the goroutine that emitted the event,
// so it must be quick: hand long work to an executor (see TriggerTask).
type Listener func(ctx context.Context, e Event)

// EventEmitter delivers events to listeners. The zero value is not usable;
// a nil *EventEmitter is, and drops every event.
type EventEmitter struct{}

// NewEventEmitter returns an emitter with no listeners.
func NewEventEmitter() *EventEmitter { panic("not implemented") }

// On adds l as a listener for events of type t, or of every type when t is
// empty. It returns a function that removes the listener.
func (em *EventEmitter) On(t EventType, l Listener) (off func()) { panic("not implemented") }

// Emit delivers e to the listeners of its type and to those of every type,
// in the order they were added.
func (em *EventEmitter) Emit(ctx context.Context, e Event) { panic("not implemented") }

// TriggerTask returns a Listener that starts t on ex whenever an event
// arrives for which input returns ok; input maps the event into t's inputs.
func TriggerTask(ex Executor, t *Task, input func(Event) (in Values, ok bool)) Listener {
	panic("not implemented")
}
