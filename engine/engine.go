package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// Engine is loom's durable runtime over one store. Create it with New,
// register task types, start it with Run; every method is safe for
// concurrent use. Submit, Get, List, Cancel, Retry, Logs and Events work
// whether or not Run is running (a submitted task then waits in the store
// for an engine to run it).
type Engine struct {
	cfg    Config
	store  store.Store
	clock  loom.Clock
	logger *slog.Logger

	mu     sync.RWMutex
	types  map[string]*registration
	closed bool
}

// New returns an engine configured by cfg, with the types in cfg.Handlers
// registered. It does no I/O: Run starts the work.
func New(cfg Config) (*Engine, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("engine: config: %w", err)
	}
	e := &Engine{
		cfg:    cfg,
		store:  cfg.Store,
		clock:  cfg.Clock,
		logger: cfg.Logger,
		types:  make(map[string]*registration),
	}
	for name, h := range cfg.Handlers {
		if err := e.Register(&loom.Task{Name: name, Handler: h}); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Register makes t's Name a task type this engine runs. A plain task runs
// its Handler on a worker under its Retry policy, Timeout (per attempt) and
// Breaker. A flow (t.Handler is a *loom.Flow) registers a flow type whose
// steps run as child tasks; the steps' tasks are registered too, under
// their own names. Registering the same *loom.Task twice is harmless; a
// different task under a taken name is ErrDuplicateType.
func (e *Engine) Register(t *loom.Task, opts ...RegisterOption) error {
	panic("not implemented")
}

// Types returns the names of the registered task types.
func (e *Engine) Types() []string {
	panic("not implemented")
}

// Submit creates a task and wakes the dispatcher. With an IdempotencyKey
// already taken it creates nothing and returns the existing task with
// created=false. Submitting a type that is not registered is
// ErrUnknownType.
func (e *Engine) Submit(ctx context.Context, p *SubmitParams) (task *loom.TaskInfo, created bool, err error) {
	panic("not implemented")
}

// SubmitMany creates many tasks in one store transaction, the fast way to
// enqueue a batch. Results are in the order of ps. If any type is unknown
// nothing is created.
func (e *Engine) SubmitMany(ctx context.Context, ps []*SubmitParams) ([]SubmitResult, error) {
	panic("not implemented")
}

// Get returns one task, or an error matching ErrNotFound.
func (e *Engine) Get(ctx context.Context, id string) (*loom.TaskInfo, error) {
	t, err := e.store.GetTask(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("engine: get task %s: %w", id, err)
	}
	return t, nil
}

// List returns a page of tasks, newest first.
func (e *Engine) List(ctx context.Context, p *store.ListTasksParams) (*store.TaskPage, error) {
	page, err := e.store.ListTasks(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("engine: list tasks: %w", err)
	}
	return page, nil
}

// Children returns the steps of a flow task, oldest first.
func (e *Engine) Children(ctx context.Context, id string) ([]*loom.TaskInfo, error) {
	cs, err := e.store.ListChildren(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("engine: list steps of %s: %w", id, err)
	}
	return cs, nil
}

// Cancel cancels a task that has not ended, and for a flow every step that
// has not ended; attempts running on this engine's workers are stopped
// through their context, and remote workers learn it at their next
// heartbeat. It returns the task as it is afterwards. Cancelling an ended
// task is ErrConflict.
func (e *Engine) Cancel(ctx context.Context, id, reason string) (*loom.TaskInfo, error) {
	panic("not implemented")
}

// Retry runs an ended failed or cancelled task again with a fresh attempt
// budget; input, when non-nil, replaces its input. For a flow it re-runs
// the failed and cancelled steps and whatever depends on them, reusing the
// saved outputs of completed steps. Retrying a pending, running or
// completed task is ErrConflict.
func (e *Engine) Retry(ctx context.Context, id string, input loom.Values) (*loom.TaskInfo, error) {
	panic("not implemented")
}

// Wait blocks until the task has ended (or ctx is done) and returns it.
// It is told by the engine that records the outcome, without polling; a
// task ended by another process sharing the store is noticed within
// PollInterval.
func (e *Engine) Wait(ctx context.Context, id string) (*loom.TaskInfo, error) {
	panic("not implemented")
}

// Logs returns a task's captured output.
func (e *Engine) Logs(ctx context.Context, p *store.GetLogsParams) ([]store.LogChunk, error) {
	cs, err := e.store.GetLogs(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("engine: logs of %s: %w", p.TaskID, err)
	}
	return cs, nil
}

// Events returns state changes in the order they happened: of one task,
// or of all tasks after a sequence number.
func (e *Engine) Events(ctx context.Context, p *store.ListEventsParams) ([]store.Event, error) {
	evs, err := e.store.ListEvents(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("engine: events: %w", err)
	}
	return evs, nil
}

// Queues returns every queue with its settings and counts by status.
func (e *Engine) Queues(ctx context.Context) ([]store.QueueInfo, error) {
	qs, err := e.store.ListQueues(ctx)
	if err != nil {
		return nil, fmt.Errorf("engine: queues: %w", err)
	}
	return qs, nil
}

// Run starts the dispatcher, completer, heartbeat, reaper and embedded
// workers, resumes every running flow, and blocks until ctx is done. It
// then shuts down gracefully: it stops claiming, lets in-flight attempts
// finish for up to ShutdownTimeout, records their outcomes, and releases
// the rest back to pending so that nothing is lost. It returns nil after a
// clean shutdown. Run may be called once.
func (e *Engine) Run(ctx context.Context) error {
	panic("not implemented")
}

// Close releases the engine: later calls fail with ErrClosed. It does not
// close the store. Call it after Run has returned.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	return nil
}
