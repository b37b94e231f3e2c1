package loom

import "context"

// SyncExecutor runs tasks in the calling goroutine and a flow's steps one at
// a time, in order (Flow.Order: definition order wherever the dependencies
// allow). Config.Parallelism is ignored: fan-out items run one at a time
// too.
type SyncExecutor struct{ x *executor }

var _ Executor = (*SyncExecutor)(nil)

// NewSyncExecutor returns a SyncExecutor configured by cfg.
func NewSyncExecutor(cfg Config) *SyncExecutor {
	cfg.Parallelism = 1
	return &SyncExecutor{x: newExecutor(cfg, 1)}
}

// Execute runs t and returns when it ends.
func (e *SyncExecutor) Execute(ctx context.Context, t *Task, in Values, opts ...RunOption) (*Result, error) {
	m, err := prepare(t, opts)
	if err != nil {
		return nil, err
	}
	return e.x.execute(ctx, t, in, &m)
}

// Start runs t to the end, then returns a Handle that is already done.
func (e *SyncExecutor) Start(ctx context.Context, t *Task, in Values, opts ...RunOption) (Handle, error) {
	m, err := prepare(t, opts)
	if err != nil {
		return nil, err
	}
	if m.id == "" {
		m.id = newRunID()
	}
	h := newHandle(m.id)
	h.finish(e.x.execute(ctx, t, in, &m))
	return h, nil
}
