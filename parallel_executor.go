package loom

import "context"

// ParallelExecutor runs the independent branches of a flow at the same
// time: a step starts as soon as the steps it waits for have ended and one
// of Config.Parallelism slots (default 2×GOMAXPROCS) is free. The slots are
// shared by every run of the executor and by fan-out items, so at most
// Parallelism handlers run at once; a nested flow or a fan-out step only
// schedules and holds no slot itself. A handler that runs another task on
// the same executor and waits for it holds its slot meanwhile.
//
// A plain task runs in the goroutine that calls Execute; Start runs it on a
// new goroutine.
type ParallelExecutor struct{ x *executor }

var _ Executor = (*ParallelExecutor)(nil)

// NewParallelExecutor returns a ParallelExecutor configured by cfg.
func NewParallelExecutor(cfg Config) *ParallelExecutor {
	return &ParallelExecutor{x: newExecutor(cfg, defaultParallelism())}
}

// Execute runs t and returns when it ends.
func (e *ParallelExecutor) Execute(ctx context.Context, t *Task, in Values, opts ...RunOption) (*Result, error) {
	m, err := prepare(t, opts)
	if err != nil {
		return nil, err
	}
	return e.x.execute(ctx, t, in, &m)
}

// Start begins running t on a new goroutine and returns at once with a
// Handle; ctx governs the run.
func (e *ParallelExecutor) Start(ctx context.Context, t *Task, in Values, opts ...RunOption) (Handle, error) {
	return startAsync(ctx, e.x, t, in, opts)
}
