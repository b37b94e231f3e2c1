package loom

import "context"

// SyncExecutor runs tasks in the calling goroutine and a flow's steps one at
// a time, in order.
type SyncExecutor struct{ cfg Config }

var _ Executor = (*SyncExecutor)(nil)

// NewSyncExecutor returns a SyncExecutor configured by cfg.
func NewSyncExecutor(cfg Config) *SyncExecutor { return &SyncExecutor{cfg: cfg} }

// Execute runs t and returns when it ends.
func (e *SyncExecutor) Execute(ctx context.Context, t *Task, in Values, opts ...RunOption) (*Result, error) {
	panic("not implemented")
}

// Start runs t to the end, then returns a Handle that is already done.
func (e *SyncExecutor) Start(ctx context.Context, t *Task, in Values, opts ...RunOption) (Handle, error) {
	panic("not implemented")
}
