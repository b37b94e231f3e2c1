package loom

import (
	"context"
	"fmt"
)

// AsyncExecutor runs each task on a goroutine of its own: Start returns at
// once with a Handle, and Execute is Start followed by Wait. It suits
// I/O-bound work, where many runs wait at the same time. A flow's steps run
// up to Config.Parallelism at a time (default 1: one after another, on the
// run's goroutine).
type AsyncExecutor struct{ x *executor }

var _ Executor = (*AsyncExecutor)(nil)

// NewAsyncExecutor returns an AsyncExecutor configured by cfg.
func NewAsyncExecutor(cfg Config) *AsyncExecutor {
	return &AsyncExecutor{x: newExecutor(cfg, 1)}
}

// Execute starts t and waits for it to end. When ctx is cancelled it still
// waits for the run to wind down, so that the cancelled Result comes back.
func (e *AsyncExecutor) Execute(ctx context.Context, t *Task, in Values, opts ...RunOption) (*Result, error) {
	h, err := e.Start(ctx, t, in, opts...)
	if err != nil {
		return nil, err
	}
	return h.Wait(context.WithoutCancel(ctx))
}

// Start begins running t on a new goroutine and returns at once. ctx
// governs the run: cancelling it cancels the run, whoever waits on it. An
// invalid task is reported here; everything else through the Handle.
func (e *AsyncExecutor) Start(ctx context.Context, t *Task, in Values, opts ...RunOption) (Handle, error) {
	return startAsync(ctx, e.x, t, in, opts)
}

func startAsync(ctx context.Context, x *executor, t *Task, in Values, opts []RunOption) (Handle, error) {
	m, err := prepare(t, opts)
	if err != nil {
		return nil, err
	}
	if m.id == "" {
		m.id = newRunID()
	}
	h := newHandle(m.id)
	go func() { h.finish(x.execute(ctx, t, in, &m)) }()
	return h, nil
}

// handle is the Handle of every executor in this package.
type handle struct {
	runID string
	done  chan struct{}
	res   *Result
	err   error
}

func newHandle(runID string) *handle {
	return &handle{runID: runID, done: make(chan struct{})}
}

func (h *handle) finish(res *Result, err error) {
	h.res, h.err = res, err
	close(h.done)
}

func (h *handle) RunID() string         { return h.runID }
func (h *handle) Done() <-chan struct{} { return h.done }

func (h *handle) Wait(ctx context.Context) (*Result, error) {
	select {
	case <-h.done:
		return h.res, h.err
	case <-ctx.Done():
		// The run may have ended at the same moment: prefer its result.
		select {
		case <-h.done:
			return h.res, h.err
		default:
		}
		return nil, fmt.Errorf("loom: waiting for run %s: %w", h.runID, ctx.Err())
	}
}
