package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
	id, err := x.submit(ctx, t, in)
	if err != nil {
		return nil, err
	}
	return x.wait(ctx, id)
}

// Start submits t with inputs in and returns a Handle to wait on; it
// returns as soon as the task is stored.
func (x *DistributedExecutor) Start(ctx context.Context, t *loom.Task, in loom.Values, opts ...loom.RunOption) (loom.Handle, error) {
	id, err := x.submit(ctx, t, in)
	if err != nil {
		return nil, err
	}
	h := &handle{id: id, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		h.res, h.err = x.wait(context.WithoutCancel(ctx), id)
	}()
	return h, nil
}

func (x *DistributedExecutor) submit(ctx context.Context, t *loom.Task, in loom.Values) (string, error) {
	if t == nil {
		return "", fmt.Errorf("%w: nil task", ErrInvalid)
	}
	if x.engine.lookup(t.Name) == nil {
		if err := x.engine.Register(t); err != nil {
			return "", err
		}
	}
	info, _, err := x.engine.Submit(ctx, &SubmitParams{Type: t.Name, Input: in})
	if err != nil {
		return "", err
	}
	return info.ID, nil
}

func (x *DistributedExecutor) wait(ctx context.Context, id string) (*loom.Result, error) {
	info, err := x.engine.Wait(ctx, id)
	if err != nil {
		return nil, err
	}
	children, err := x.engine.Children(ctx, id)
	if err != nil {
		return nil, err
	}
	r := ResultOf(info, children)
	if r.Status != loom.StatusCompleted {
		return r, &loom.RunError{Result: r}
	}
	return r, nil
}

// ResultOf builds the loom.Result of an ended task and, for a flow, of its
// steps (children), so code written against the library's executors reads
// durable runs the same way.
func ResultOf(t *loom.TaskInfo, children []*loom.TaskInfo) *loom.Result {
	r := &loom.Result{
		RunID: t.ID, Name: t.Type, Status: t.Status, Output: t.Output,
		Message: t.Msg, Attempts: t.Attempt, Started: t.Created,
	}
	if t.Step != "" {
		r.Name = t.Step
	}
	if t.Started != nil && t.Attempt <= 1 {
		r.Started = *t.Started
	}
	if t.Ended != nil {
		r.Ended = *t.Ended
	}
	switch t.Status {
	case loom.StatusCompleted, loom.StatusSkipped:
	case loom.StatusCancelled:
		r.Err = fmt.Errorf("%w: %s", loom.ErrCancelled, t.Msg)
	default:
		if strings.Contains(t.Msg, loom.ErrTimeout.Error()) || strings.Contains(t.Msg, "timed out") {
			r.Err = fmt.Errorf("%w: %s", loom.ErrTimeout, t.Msg)
		} else {
			r.Err = errors.New(t.Msg)
		}
	}
	if len(children) > 0 {
		r.Steps = make(map[string]*loom.Result, len(children))
		for _, c := range children {
			if c.Step != "" {
				r.Steps[c.Step] = ResultOf(c, nil)
			}
		}
	}
	return r
}

// handle is a run started by DistributedExecutor.Start.
type handle struct {
	id   string
	done chan struct{}
	res  *loom.Result
	err  error
}

func (h *handle) RunID() string         { return h.id }
func (h *handle) Done() <-chan struct{} { return h.done }

func (h *handle) Wait(ctx context.Context) (*loom.Result, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-h.done:
		return h.res, h.err
	}
}
