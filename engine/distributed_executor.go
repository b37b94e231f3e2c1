package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// DistributedExecutor runs tasks and flows durably through an Engine, on
// whichever workers serve their queue. It is the seed's DistributedExecutor
// behind loom's one Executor interface: Execute submits the task and waits
// for it to end, told by the engine's completer rather than by polling.
//
// The task must be registered with the engine under t.Name (Execute
// registers it if it is not).
//
// Run ids and idempotency keys are the task's own: WithRunID names the
// task (Engine.Get finds it by that id), and the run's idempotency key
// (WithIdempotencyKey, or the one Task.Idempotency derives) is the task's
// idempotency_key. A second Execute with the same run id or key, from this
// process or any other on the same store, starts nothing: it waits for the
// first run while it runs and returns its Result, marked Replayed. Once
// the first run ended, its key answers as Idempotency says: a completed
// run (and a failed one under KeepOnFailure) is replayed within Window;
// after Window, or when a failed or cancelled run released its key, the
// key is taken from the old task (Store.ReleaseTaskKey) and a new task
// runs. A run id is never reused: a later Execute with it returns the run
// that ended, whatever its outcome. Idempotency.LockTTL plays no part
// durably: a run in flight holds its key for as long as its task lives,
// and a crashed worker's attempt is taken over by the engine's reaper.
type DistributedExecutor struct {
	engine *Engine
}

var _ loom.Executor = (*DistributedExecutor)(nil)

// NewDistributedExecutor returns an executor that runs tasks on e. The
// engine must be running (Run) for tasks to make progress.
func NewDistributedExecutor(e *Engine) *DistributedExecutor {
	return &DistributedExecutor{engine: e}
}

// Execute submits t with inputs in, or finds the run the options name,
// and waits for it to end. As with every executor, the run is bound to
// ctx: when ctx ends first, the task is cancelled (a task this call only
// attached to is left running) and Execute returns its cancelled Result.
// Pass context.WithoutCancel(ctx) for a task that must outlive the call.
func (x *DistributedExecutor) Execute(ctx context.Context, t *loom.Task, in loom.Values, opts ...loom.RunOption) (*loom.Result, error) {
	spec, err := x.prepare(t, in, opts)
	if err != nil {
		return nil, err
	}
	r, err := x.begin(ctx, t, in, spec)
	if err != nil {
		return nil, err
	}
	return x.finish(ctx, t, in, spec, r)
}

// Start submits t with inputs in (or finds the run the options name) and
// returns a Handle to wait on; it returns as soon as the task is stored.
// The run stays bound to ctx, as Execute's is.
func (x *DistributedExecutor) Start(ctx context.Context, t *loom.Task, in loom.Values, opts ...loom.RunOption) (loom.Handle, error) {
	spec, err := x.prepare(t, in, opts)
	if err != nil {
		return nil, err
	}
	r, err := x.begin(ctx, t, in, spec)
	if err != nil {
		return nil, err
	}
	h := &handle{id: r.id, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		h.res, h.err = x.finish(ctx, t, in, spec, r)
	}()
	return h, nil
}

// prepare checks t, registers it if needed, and resolves the run options.
func (x *DistributedExecutor) prepare(t *loom.Task, in loom.Values, opts []loom.RunOption) (loom.RunSpec, error) {
	if t == nil {
		return loom.RunSpec{}, fmt.Errorf("%w: nil task", ErrInvalid)
	}
	spec, err := loom.ResolveRun(t, in, opts...)
	if err != nil {
		return loom.RunSpec{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if x.engine.lookup(t.Name) == nil {
		if err := x.engine.Register(t); err != nil {
			return loom.RunSpec{}, err
		}
	}
	return spec, nil
}

// durableRun is the task a run went to: one it created, or the run
// already holding its id or key (attached), or an ended run's Result to
// replay.
type durableRun struct {
	id       string
	attached bool
	replay   *loom.Result
}

// begin submits the task unless a run already holds its id or key: it
// then attaches to that run while it runs, or replays it once ended if
// the key still answers for it; an ended run whose key no longer answers
// (window passed, or released by a failure) loses the key to a new task.
func (x *DistributedExecutor) begin(ctx context.Context, t *loom.Task, in loom.Values, spec loom.RunSpec) (durableRun, error) {
	e := x.engine
	for try := 0; ; try++ {
		info, created, err := e.Submit(ctx, &SubmitParams{Type: t.Name, Input: in, ID: spec.RunID, IdempotencyKey: spec.IdempotencyKey})
		if err != nil {
			return durableRun{}, err
		}
		switch {
		case created:
			return durableRun{id: info.ID}, nil
		case spec.RunID != "" && info.ID == spec.RunID && info.Type != t.Name:
			return durableRun{}, fmt.Errorf("engine: run id %s is a task of type %q, not %q: %w", info.ID, info.Type, t.Name, ErrConflict)
		case !info.Status.Terminal():
			return durableRun{id: info.ID, attached: true}, nil
		case spec.RunID != "" && info.ID == spec.RunID, keyAnswers(spec.Idempotency, info, e.clock.Now()):
			res, err := x.result(ctx, info)
			if err != nil {
				return durableRun{}, err
			}
			return durableRun{id: info.ID, replay: res}, nil
		case try == maxKeyTakeovers:
			return durableRun{}, fmt.Errorf("engine: idempotency key %q changed hands %d times while starting a run: %w", spec.IdempotencyKey, try, ErrConflict)
		}
		err = e.store.ReleaseTaskKey(ctx, &store.ReleaseTaskKeyParams{Key: spec.IdempotencyKey, TaskID: info.ID, Now: e.clock.Now()})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			// ErrConflict: someone retried the old task meanwhile; the
			// next submit attaches to it.
			return durableRun{}, fmt.Errorf("engine: take over idempotency key %q: %w", spec.IdempotencyKey, err)
		}
	}
}

// maxKeyTakeovers bounds begin's attempts to take a key over, against
// runs racing for the same key that keep ending at once.
const maxKeyTakeovers = 8

// keyAnswers reports whether the ended task t answers for its idempotency
// key at now: its outcome is one idem keeps, within idem's window.
func keyAnswers(idem loom.Idempotency, t *loom.TaskInfo, now time.Time) bool {
	keeps := t.Status == loom.StatusCompleted || (t.Status == loom.StatusFailed && idem.OnFailure == loom.KeepOnFailure)
	return keeps && t.Ended != nil && now.Before(t.Ended.Add(idem.Window))
}

// finish waits for the run r went to and returns as Execute does. A run
// attached to that ends in a way its key does not keep (a failure that
// releases it, a cancellation) is followed by a run of this call's own, as
// a duplicate waiting for an in-flight key does in memory.
func (x *DistributedExecutor) finish(ctx context.Context, t *loom.Task, in loom.Values, spec loom.RunSpec, r durableRun) (*loom.Result, error) {
	for {
		res := r.replay
		if res == nil {
			info, err := x.engine.Wait(ctx, r.id)
			if err != nil && ctx.Err() != nil {
				if r.attached {
					// This call gave up; the run it waited for is not its own.
					res := ResultOf(x.gaveUp(ctx, t, r), nil)
					return res, &loom.RunError{Result: res}
				}
				info, err = x.abandon(ctx, r)
			}
			if err != nil {
				return nil, err
			}
			if r.attached && ctx.Err() == nil && spec.IdempotencyKey != "" && info.ID != spec.RunID && !keyAnswers(spec.Idempotency, info, x.engine.clock.Now()) {
				if r, err = x.begin(ctx, t, in, spec); err != nil {
					return nil, err
				}
				continue
			}
			// The run ended: read it whole even if ctx ended meanwhile.
			if res, err = x.result(context.WithoutCancel(ctx), info); err != nil {
				return nil, err
			}
		}
		if r.attached || r.replay != nil {
			res.Replayed = true
			x.engine.emitReplayed(ctx, t, res)
		}
		if res.Status != loom.StatusCompleted {
			return res, &loom.RunError{Result: res}
		}
		return res, nil
	}
}

// abandon cancels the task of a run this call created, whose ctx ended
// first (its handler is stopped), as the library's executors end such a
// run, and returns the task as it ended.
func (x *DistributedExecutor) abandon(ctx context.Context, r durableRun) (*loom.TaskInfo, error) {
	bg := context.WithoutCancel(ctx)
	// The Result's error says ErrCancelled; the reason says why.
	info, err := x.engine.Cancel(bg, r.id, context.Cause(ctx).Error())
	if errors.Is(err, ErrConflict) {
		// It ended meanwhile: that is its outcome.
		info, err = x.engine.Get(bg, r.id)
	}
	return info, err
}

// gaveUp is the cancelled end of a call attached to another's run whose
// ctx ended first: that run goes on.
func (x *DistributedExecutor) gaveUp(ctx context.Context, t *loom.Task, r durableRun) *loom.TaskInfo {
	now := x.engine.clock.Now()
	return &loom.TaskInfo{ID: r.id, Type: t.Name, Status: loom.StatusCancelled, Msg: context.Cause(ctx).Error(), Created: now, Ended: &now}
}

// result is the loom.Result of the ended task info and its steps.
func (x *DistributedExecutor) result(ctx context.Context, info *loom.TaskInfo) (*loom.Result, error) {
	children, err := x.engine.Children(ctx, info.ID)
	if err != nil {
		return nil, err
	}
	return ResultOf(info, children), nil
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
	r.Err = runErr(t.Status, t.Msg)
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

// runErr is the error of a durable run that ended in status st with
// message msg. Only an error's text crosses the bus and the store, so the
// library's errors a caller branches on are recognised by their words:
// the run matches ErrCancelled, ErrTimeout or ErrCircuitOpen as it would
// have in memory.
func runErr(st loom.Status, msg string) error {
	switch {
	case st == loom.StatusCompleted, st == loom.StatusSkipped:
		return nil
	case st == loom.StatusCancelled:
		return fmt.Errorf("%w: %s", loom.ErrCancelled, msg)
	case strings.Contains(msg, loom.ErrTimeout.Error()) || strings.Contains(msg, "timed out"):
		return fmt.Errorf("%w: %s", loom.ErrTimeout, msg)
	case strings.Contains(msg, loom.ErrCircuitOpen.Error()),
		strings.Contains(msg, "circuit breaker \"") && strings.Contains(msg, "\" open for another"):
		return fmt.Errorf("%w: %s", loom.ErrCircuitOpen, msg)
	}
	return errors.New(msg)
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
