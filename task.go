package loom

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Handler does the work of a task type. Handle gets the task's inputs and
// returns its outputs, or an error to fail the attempt. A handler must honour
// ctx: it is cancelled when the task times out or is cancelled.
//
// Errors steer what happens next: Permanent(err) is never retried,
// RetryAfter(err, d) asks the retry policy to wait at least d, and any other
// error is retried while the task's RetryPolicy allows.
type Handler interface {
	Handle(ctx context.Context, in Values) (Values, error)
}

// HandlerFunc adapts an ordinary function to a Handler, as http.HandlerFunc
// does for http.Handler.
type HandlerFunc func(ctx context.Context, in Values) (Values, error)

// Handle calls f(ctx, in).
func (f HandlerFunc) Handle(ctx context.Context, in Values) (Values, error) { return f(ctx, in) }

// Task is a task type: a name and a Handler, plus the policies that govern
// every run of it. A Task is a definition, safe to share between goroutines
// and executors once built; run it with an Executor, or directly with Run.
//
// A flow built with NewFlow is a Task too, so flows nest as steps of other
// flows.
type Task struct {
	// Name identifies the task type in results, events, state and metrics.
	// Required.
	Name string
	// Handler does the work. Required.
	Handler Handler
	// Retry governs re-running failed attempts. Nil means one attempt only.
	Retry *RetryPolicy
	// Timeout bounds each attempt; zero means no timeout beyond the caller's
	// context.
	Timeout time.Duration
	// Breaker, when set, guards every attempt: while it is open attempts fail
	// fast with ErrCircuitOpen. Tasks sharing one *CircuitBreaker share its
	// state; see BreakerKey for one breaker per downstream.
	Breaker *CircuitBreaker
	// BreakerKey, when set with Breaker, picks a breaker per key derived from
	// the inputs (for example the downstream host), each with Breaker's
	// settings.
	BreakerKey func(in Values) string
	// Idempotency, when set, makes runs with the same key run once; see
	// Idempotency for its three separate settings.
	Idempotency *Idempotency
}

// NewTask returns a Task named name that runs h, with no retries, timeout,
// breaker or idempotency; set those fields on the result as needed.
func NewTask(name string, h Handler) *Task {
	return &Task{Name: name, Handler: h}
}

// Run runs t to completion in the calling goroutine with a SyncExecutor of
// default configuration (the seed's task.run). It is the quickest way to run
// one task; use an Executor to share clocks, events and state.
func (t *Task) Run(ctx context.Context, in Values, opts ...RunOption) (*Result, error) {
	m, err := prepare(t, opts)
	if err != nil {
		return nil, err
	}
	if t.Idempotency != nil || m.key != "" {
		// The run's idempotency records are its own executor's, so that
		// runs with the same key do not share them.
		return NewSyncExecutor(Config{}).x.execute(ctx, t, in, &m)
	}
	// Nothing else of a default SyncExecutor outlives the run, so every
	// such run shares one.
	return defaultSync().execute(ctx, t, in, &m)
}

// defaultSync is the executor of Task.Run: a SyncExecutor's of default
// configuration, except that it logs through whatever slog.Default is at
// the time, as a fresh one would.
var defaultSync = sync.OnceValue(func() *executor {
	return NewSyncExecutor(Config{Logger: slog.New(defaultLogHandler{})}).x
})

// defaultLogHandler hands every record to slog.Default's handler as it is
// when the record is logged.
type defaultLogHandler struct{}

func (defaultLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return slog.Default().Handler().Enabled(ctx, l)
}

func (defaultLogHandler) Handle(ctx context.Context, r slog.Record) error {
	return slog.Default().Handler().Handle(ctx, r)
}

func (h defaultLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return slog.Default().Handler().WithAttrs(attrs)
}

func (h defaultLogHandler) WithGroup(name string) slog.Handler {
	return slog.Default().Handler().WithGroup(name)
}
