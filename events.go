package loom

import (
	"context"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
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
type EventEmitter struct {
	mu     sync.Mutex // serialises On and off
	nextID uint64
	// listeners is replaced, never changed in place, so Emit ranges over
	// the slice it loaded without a lock, and an executor can see that
	// nobody listens before it builds an event.
	listeners atomic.Pointer[[]listenerEntry]
	dropped   atomic.Int64
}

type listenerEntry struct {
	id  uint64
	typ EventType // empty: every type
	fn  Listener
}

// NewEventEmitter returns an emitter with no listeners.
func NewEventEmitter() *EventEmitter { return &EventEmitter{} }

// On adds l as a listener for events of type t, or of every type when t is
// empty. It returns a function that removes the listener.
//
// Calling off more than once is harmless, and listeners may call On and off
// themselves. An Emit already under way when off is called may still
// deliver its event to l. On a nil emitter, or with a nil l, On does
// nothing and returns an off that does nothing.
func (em *EventEmitter) On(t EventType, l Listener) (off func()) {
	if em == nil || l == nil {
		return func() {}
	}
	em.mu.Lock()
	em.nextID++
	id := em.nextID
	old := em.loaded()
	ls := make([]listenerEntry, len(old), len(old)+1)
	copy(ls, old)
	ls = append(ls, listenerEntry{id: id, typ: t, fn: l})
	em.listeners.Store(&ls)
	em.mu.Unlock()
	return func() { em.remove(id) }
}

func (em *EventEmitter) remove(id uint64) {
	em.mu.Lock()
	defer em.mu.Unlock()
	old := em.loaded()
	i := slices.IndexFunc(old, func(e listenerEntry) bool { return e.id == id })
	if i < 0 {
		return
	}
	ls := slices.Concat(old[:i], old[i+1:])
	em.listeners.Store(&ls)
}

// loaded returns the current listeners; nil when there are none yet.
func (em *EventEmitter) loaded() []listenerEntry {
	if p := em.listeners.Load(); p != nil {
		return *p
	}
	return nil
}

// listening reports whether em has any listener, so that an emitter
// nobody listens to costs its executor no event at all. A nil emitter
// has none.
func (em *EventEmitter) listening() bool {
	return em != nil && len(em.loaded()) > 0
}

// Emit delivers e to the listeners of its type and to those of every type,
// in the order they were added.
//
// Listeners run in the calling goroutine, outside the emitter's lock, so a
// listener may emit, add or remove listeners. A listener that panics does
// not stop the others nor reach the caller: the panic is logged through
// slog.Default with the event's type. A nil emitter drops e.
func (em *EventEmitter) Emit(ctx context.Context, e Event) {
	if em == nil {
		return
	}
	for _, l := range em.loaded() {
		if l.typ == "" || l.typ == e.Type {
			deliver(ctx, l.fn, e)
		}
	}
}

// deliver calls l, turning a panic into a log line so that one broken
// listener cannot crash the executor that emitted the event.
func deliver(ctx context.Context, l Listener, e Event) {
	defer func() {
		if r := recover(); r != nil {
			slog.Default().ErrorContext(ctx, "loom: event listener panicked",
				"event", string(e.Type), "run_id", e.RunID, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	l(ctx, e)
}

// Chan subscribes to events of the given types (every type when none is
// given) and delivers them on the returned channel until ctx is done; the
// channel is then closed. It suits consumers that must not slow the
// executor down, such as a UI streaming events to a browser.
//
// The channel holds buf events (64 when buf <= 0). Emit never waits for
// the reader: when the buffer is full the event is dropped for this
// subscriber and counted in Dropped. On a nil emitter the channel only
// closes when ctx is done.
func (em *EventEmitter) Chan(ctx context.Context, buf int, types ...EventType) <-chan Event {
	if buf <= 0 {
		buf = 64
	}
	ch := make(chan Event, buf)
	if em == nil {
		context.AfterFunc(ctx, func() { close(ch) })
		return ch
	}
	var (
		mu     sync.Mutex
		closed bool
	)
	want := slices.Clone(types)
	off := em.On("", func(_ context.Context, e Event) {
		if len(want) > 0 && !slices.Contains(want, e.Type) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return
		}
		select {
		case ch <- e:
		default:
			em.dropped.Add(1)
		}
	})
	context.AfterFunc(ctx, func() {
		off()
		mu.Lock()
		defer mu.Unlock()
		closed = true
		close(ch)
	})
	return ch
}

// Dropped returns how many events Chan subscriptions have dropped, over the
// emitter's life, because a reader fell behind and its buffer was full. A
// nil emitter has dropped none.
func (em *EventEmitter) Dropped() int64 {
	if em == nil {
		return 0
	}
	return em.dropped.Load()
}

// TriggerTask returns a Listener that starts t on ex whenever an event
// arrives for which input returns ok; input maps the event into t's inputs.
//
// The run is detached from the emitting run's cancellation
// (context.WithoutCancel), so that it outlives the call that emitted the
// event; it keeps the context's values. Listeners run inside Emit, so give
// TriggerTask an executor whose Start returns at once (AsyncExecutor, the
// engine) unless the triggered run is quick. Start's errors have no caller
// to return to and are logged through slog.Default. A nil input starts t on
// every event, with the event's Output as inputs.
func TriggerTask(ex Executor, t *Task, input func(Event) (in Values, ok bool)) Listener {
	if input == nil {
		input = func(e Event) (Values, bool) { return e.Output.Clone(), true }
	}
	return func(ctx context.Context, e Event) {
		in, ok := input(e)
		if !ok {
			return
		}
		if _, err := ex.Start(context.WithoutCancel(ctx), t, in); err != nil {
			slog.Default().ErrorContext(ctx, "loom: triggered task did not start",
				"task", t.Name, "event", string(e.Type), "run_id", e.RunID, "err", err)
		}
	}
}
