package loom

import "context"

// ParallelExecutor runs the independent branches of a flow at the same
// time: a step starts as soon as the steps it waits for have ended and one
// of Config.Parallelism slots (default 2×GOMAXPROCS) is free. The slots are
// shared by every run of the executor: plain tasks given to Execute or
// Start, flow steps and fan-out items, so at most Parallelism handlers run
// at once; a flow, nested or not, and a fan-out step only schedule and hold
// no slot themselves.
//
// A plain task runs in the goroutine that calls Execute, once a slot is
// free; Start runs it on a new goroutine, which waits for a slot. Work that
// a handler itself gives to the same executor (Execute or Start with the
// handler's context) takes no slot of its own: it counts against the
// handler's, since a handler waiting for a slot while holding one could
// wait forever. A handler that Starts tasks without waiting for them can
// so run more than Parallelism handlers at once.
type ParallelExecutor struct{ x *executor }

var _ Executor = (*ParallelExecutor)(nil)

// NewParallelExecutor returns a ParallelExecutor configured by cfg.
func NewParallelExecutor(cfg Config) *ParallelExecutor {
	x := newExecutor(cfg, defaultParallelism())
	x.boundTasks = true
	return &ParallelExecutor{x: x}
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
