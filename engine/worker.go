package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/loomhq/loom"
)

// work runs attempts from the ready channel until it is closed.
func (e *Engine) work() {
	for a := range e.ready {
		e.done <- e.runAttempt(a)
	}
}

// runAttempt runs one attempt's handler with its context (cancelled on
// task cancel, lost lease or shutdown, and at the task's deadline), its
// attempt info and its log writer, and returns how it ended.
func (e *Engine) runAttempt(a *attempt) *outcome {
	t := a.task
	o := &outcome{id: t.ID, typ: t.Type, attempt: t.Attempt, maxAttempts: t.MaxAttempts, started: e.clock.Now()}
	defer func() { o.ended = e.clock.Now() }()

	ctx := a.ctx
	if err := context.Cause(ctx); err != nil {
		// Cancelled or released before it started.
		o.err, o.released = err, errors.Is(err, errShutdown)
		return o
	}
	// The task's deadline, and the type's per-attempt timeout, whichever
	// comes first.
	deadline := t.Timeout.Sub(o.started)
	if to := a.reg.task.Timeout; to > 0 && to < deadline {
		deadline = to
	}
	ctx, cancel := loom.WithTimeout(ctx, e.clock, deadline)
	defer cancel()
	ctx = loom.ContextWithAttempt(ctx, loom.AttemptInfo{RunID: t.ID, Attempt: t.Attempt, MaxAttempts: t.MaxAttempts})
	ctx = loom.ContextWithLogWriter(ctx, e.logs.writer(t.ID, t.Attempt))

	out, err := e.callHandler(ctx, a.reg, t.Input)
	switch {
	case err == nil && ctx.Err() == nil:
		o.output = out
		return o
	case loom.TimedOut(ctx):
		if !o.started.Add(deadline).Before(t.Timeout) {
			// The task itself expired: no retry can help.
			err = loom.Permanent(fmt.Errorf("%w: task deadline %s passed", loom.ErrTimeout, t.Timeout.Format("2006-01-02T15:04:05Z07:00")))
		} else {
			err = fmt.Errorf("%w: attempt ran longer than %s", loom.ErrTimeout, deadline)
		}
	case context.Cause(a.ctx) != nil:
		cause := context.Cause(a.ctx)
		o.released = errors.Is(cause, errShutdown)
		err = fmt.Errorf("%w: %w", loom.ErrCancelled, cause)
	case err == nil:
		err = ctx.Err()
	}
	o.err = err
	return o
}

// callHandler runs the handler under the type's breaker, turning a panic
// into an error.
func (e *Engine) callHandler(ctx context.Context, reg *registration, in loom.Values) (out loom.Values, err error) {
	t := reg.task
	var b *loom.CircuitBreaker
	if t.Breaker != nil {
		b = t.Breaker
		if t.BreakerKey != nil {
			b = b.Key(t.BreakerKey(in))
		}
		if err := b.Allow(); err != nil {
			return nil, err
		}
		defer func() { b.Record(err) }()
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v\n%s", r, debug.Stack())
		}
	}()
	if in == nil {
		in = loom.Values{}
	}
	return t.Handler.Handle(ctx, in)
}
