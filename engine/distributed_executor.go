package engine

import (
	"context"

	"github.com/loomhq/loom"
)

// DistributedExecutor runs tasks and flows durably through an Engine, on
// whichever workers serve their queue. It is the seed's DistributedExecutor
// behind loom's one Executor interface: Execute submits the task and waits
// for it to end, told by the engine's completer rather than by polling.
//
// The task must be registered with the engine under t.Name (Execute
// registers it if it is not). Run options the engine cannot honour across
// processes are ignored.
type DistributedExecutor struct {
	engine *Engine
}

var _ loom.Executor = (*DistributedExecutor)(nil)

// NewDistributedExecutor returns an executor that runs tasks on e. The
// engine must be running (Run) for tasks to make progress.
func NewDistributedExecutor(e *Engine) *DistributedExecutor {
	return &DistributedExecutor{engine: e}
}

// Execute submits t with inputs in and waits for it to end.
func (x *DistributedExecutor) Execute(ctx context.Context, t *loom.Task, in loom.Values, opts ...loom.RunOption) (*loom.Result, error) {
	panic("not implemented")
}

// Start submits t with inputs in and returns a Handle to wait on; it
// returns as soon as the task is stored.
func (x *DistributedExecutor) Start(ctx context.Context, t *loom.Task, in loom.Values, opts ...loom.RunOption) (loom.Handle, error) {
	panic("not implemented")
}
