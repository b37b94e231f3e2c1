package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// complete records outcomes from the done channel in batches (group
// commit) until the channel is closed.
func (e *Engine) complete(ctx context.Context) {
	batch := make([]*outcome, 0, e.cfg.CompleteBatch)
	for o := range e.done {
		batch = append(batch[:0], o)
	drain:
		for len(batch) < e.cfg.CompleteBatch {
			select {
			case o, ok := <-e.done:
				if !ok {
					break drain
				}
				batch = append(batch, o)
			default:
				break drain
			}
		}
		e.record(ctx, batch)
	}
}

// record applies the retry policy to each outcome and writes them all in
// one FinishTasks call, then tells waiters, flows and the dispatcher.
func (e *Engine) record(ctx context.Context, batch []*outcome) {
	// Logs first, so a task's log is complete when it is seen ended.
	e.logs.flush(ctx)
	now := e.clock.Now()
	outs := make([]store.Outcome, len(batch))
	for i, o := range batch {
		outs[i] = e.decide(o, now)
	}
	var res []store.FinishResult
	var err error
	for try := 0; ; try++ {
		res, err = e.store.FinishTasks(ctx, &store.FinishTasksParams{Outcomes: outs, Now: now})
		if err == nil || try == 4 {
			break
		}
		e.logger.Warn("engine: record outcomes, will retry", "n", len(outs), "err", err)
		if loom.Sleep(ctx, e.clock, time.Duration(50<<try)*time.Millisecond) != nil {
			break
		}
	}
	for _, o := range batch {
		e.inflight.remove(store.Lease{ID: o.id, Attempt: o.attempt})
	}
	if err != nil {
		// The leases lapse and the reaper re-queues these tasks.
		e.logger.Error("engine: record outcomes", "n", len(outs), "err", err)
		e.notify()
		return
	}
	for _, r := range res {
		if !r.Applied || r.Task == nil {
			continue
		}
		e.recorded.Add(1)
		e.ended(r.Task)
	}
	e.notify()
}

// ended tells whoever waits on t that it changed: Wait callers once it has
// ended, its flow whenever it ended.
func (e *Engine) ended(t *loom.TaskInfo) {
	if !t.Status.Terminal() {
		return
	}
	e.waiters.ended(t)
	if t.ParentID != "" {
		e.flows.push(t.ParentID)
	}
}

// decide turns an attempt's result into the store outcome: completed,
// failed, or pending again at the time the retry policy says.
func (e *Engine) decide(o *outcome, now time.Time) store.Outcome {
	out := store.Outcome{ID: o.id, Attempt: o.attempt}
	switch {
	case o.released:
		out.Status, out.RetryAt, out.Msg = loom.StatusPending, now, "released: worker shut down"
		return out
	case o.err == nil:
		out.Status, out.Output = loom.StatusCompleted, o.output
		if out.Output == nil {
			out.Output = loom.Values{}
		}
		return out
	}
	out.Msg = o.err.Error()
	out.Status = loom.StatusFailed
	if o.attempt >= o.maxAttempts || loom.IsPermanent(o.err) || errors.Is(o.err, loom.ErrCancelled) {
		return out
	}
	policy := loom.RetryPolicy{}
	if reg := e.lookup(o.typ); reg != nil && reg.task.Retry != nil {
		policy = *reg.task.Retry
	}
	// The task object's budget governs how many; the policy how long.
	policy.MaxAttempts = o.maxAttempts
	delay, retry := policy.Next(o.attempt, o.err)
	if !retry {
		return out
	}
	out.Status, out.RetryAt = loom.StatusPending, now.Add(delay)
	out.Msg = fmt.Sprintf("attempt %d failed, retrying in %s: %s", o.attempt, delay, o.err)
	return out
}
