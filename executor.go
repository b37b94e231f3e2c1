package loom

import (
	"context"
	"fmt"
	"log/slog"
)

// Executor runs tasks and flows. Every executor applies the same task
// policies (retry, circuit breaker, timeout, idempotency), records the same
// state and emits the same events; the conformance suite in
// loomtest/executortest states that contract and every executor passes
// it, with the few differences its Capabilities name. They differ in
// where the work runs:
//
//   - SyncExecutor: in the calling goroutine, flow steps one at a time in
//     order;
//   - AsyncExecutor: on a goroutine of its own, so Start returns at once
//     with a Handle to wait on (for I/O-bound work);
//   - ParallelExecutor: independent branches of a flow at the same time on
//     a bounded pool;
//   - the engine's DistributedExecutor: durably, on workers anywhere.
type Executor interface {
	// Execute runs t with inputs in and waits for it to end. The Result is
	// non-nil once the run started; the error is nil only when the run
	// completed, and is a *RunError (carrying the Result) when it failed,
	// was cancelled or timed out. Other errors (an invalid task, a state
	// store that cannot be reached) come with a nil Result.
	Execute(ctx context.Context, t *Task, in Values, opts ...RunOption) (*Result, error)
	// Start begins running t and returns a Handle to wait on. Whether it
	// returns before the run ends depends on the executor.
	Start(ctx context.Context, t *Task, in Values, opts ...RunOption) (Handle, error)
}

// Handle is a run that was started: wait on it for the Result.
type Handle interface {
	// RunID identifies the run in state and events.
	RunID() string
	// Done is closed when the run has ended.
	Done() <-chan struct{}
	// Wait blocks until the run ends or ctx is done, and returns what
	// Executor.Execute would have.
	Wait(ctx context.Context) (*Result, error)
}

// Config configures an executor. The zero value is ready to use: it means
// the system clock, no events, in-memory state and idempotency records
// private to the executor, and slog.Default for logs.
type Config struct {
	// Clock drives backoff, timeouts and breakers. Default SystemClock.
	Clock Clock
	// Events receives every task, flow and breaker event. Default: none.
	Events *EventEmitter
	// State records each run and each flow step. Default: a MemoryState
	// private to the executor for idempotency records only; runs and
	// steps nobody could read back are not recorded, which keeps a
	// long-lived executor from growing. Pass a StateManager to read runs
	// back or to make them durable.
	State StateManager
	// Logger logs attempts and failures. Default slog.Default().
	Logger *slog.Logger
	// Parallelism bounds how many flow steps (and fan-out items) a
	// ParallelExecutor or AsyncExecutor runs at once, and for a
	// ParallelExecutor its plain tasks too (see ParallelExecutor for the
	// work a handler nests). Default 2×GOMAXPROCS for ParallelExecutor, 1
	// for the others.
	Parallelism int
}

// RunOption sets something about a single run.
type RunOption func(*runOptions)

type runOptions struct {
	runID          string
	idempotencyKey string
}

// WithRunID gives the run an id of the caller's choosing instead of a new
// UUID, for example to tie it to a request.
func WithRunID(id string) RunOption { return func(o *runOptions) { o.runID = id } }

// WithIdempotencyKey runs the task under an explicit idempotency key: if a
// run with this key already completed within the task's dedup window, its
// recorded Result is returned and the handler does not run. It overrides the
// task's derived key, and works even when the task has no Idempotency set
// (the defaults of Idempotency apply).
func WithIdempotencyKey(key string) RunOption {
	return func(o *runOptions) { o.idempotencyKey = key }
}

// RunSpec is what a task's settings and a run's options say about one run:
// its id and its idempotency key. Executors outside this package (the
// engine's DistributedExecutor) read it through ResolveRun, so that every
// executor names and keys runs alike.
type RunSpec struct {
	// RunID is the id WithRunID gave; empty means the executor picks one.
	RunID string
	// IdempotencyKey is the run's key: WithIdempotencyKey's, else the one
	// Task.Idempotency derives; empty when the run has none.
	IdempotencyKey string
	// Idempotency holds the settings that govern the key, defaults filled
	// in (Window 24 hours, LockTTL 15 minutes); zero when the run has no
	// key.
	Idempotency Idempotency
}

// ResolveRun returns the RunSpec of a run of t with inputs in under opts.
// It fails when t is not runnable (no name or handler) or its Idempotency
// cannot derive a key from in.
func ResolveRun(t *Task, in Values, opts ...RunOption) (RunSpec, error) {
	m, err := prepare(t, opts)
	if err != nil {
		return RunSpec{}, err
	}
	spec := RunSpec{}
	if len(opts) > 0 {
		o := new(runOptions)
		for _, opt := range opts {
			opt(o)
		}
		spec.RunID = o.runID
	}
	key, idem, keyed, err := idempotencyKey(t, in, m.key)
	if err != nil {
		return RunSpec{}, fmt.Errorf("loom: task %q: %w", t.Name, err)
	}
	if keyed {
		spec.IdempotencyKey, spec.Idempotency = key, *idem
	}
	return spec, nil
}
