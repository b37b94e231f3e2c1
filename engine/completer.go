package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/store"
)

// complete takes done tasks off the bus in batches and records them in
// one store call each (group commit), acknowledging them once recorded.
// It runs until ctx is done; once drain is done too it records what is
// left on the bus and returns.
func (e *Engine) complete(ctx, drain context.Context, c bus.Consumer) {
	draining := false
	for {
		rctx, cancel := drain, context.CancelFunc(func() {})
		if draining {
			// Results published before the drain began are on the bus
			// already: a short wait sees them all.
			rctx, cancel = context.WithTimeout(ctx, 20*time.Millisecond)
		}
		ds, err := c.Receive(rctx, e.cfg.CompleteBatch)
		cancel()
		if err != nil {
			switch {
			case ctx.Err() != nil, errors.Is(err, bus.ErrClosed), errors.Is(err, io.EOF):
				return
			case drain.Err() != nil:
				if draining {
					return
				}
				draining = true
			default:
				e.logger.Error("engine: receive results", "err", err)
				if loom.Sleep(ctx, e.clock, 100*time.Millisecond) != nil {
					return
				}
			}
			continue
		}
		e.recordDeliveries(ctx, ds)
	}
}

// recordDeliveries records a batch of done tasks and settles their
// deliveries: acknowledged once recorded, handed back to try again if the
// store failed.
func (e *Engine) recordDeliveries(ctx context.Context, ds []bus.Delivery) {
	batch := make([]*outcome, 0, len(ds))
	var progress []store.ProgressReport
	for i := range ds {
		m := &ds[i].Message
		if p := m.Progress; p != nil && m.ID != "" && m.Attempt > 0 && p.Done >= 0 && p.Total >= 0 {
			// Before the outcome: a done message carries its attempt's
			// last report, kept once the task has ended.
			progress = append(progress, store.ProgressReport{Lease: store.Lease{ID: m.ID, Attempt: m.Attempt}, Progress: *m.Progress})
		}
		if m.IsProgress() {
			continue
		}
		o, err := e.outcomeOf(m)
		if err != nil {
			// Not a task of any engine's (a seed-003 task made by hand):
			// nothing to record.
			e.logger.Warn("engine: ignoring result", "task", ds[i].ID, "err", err)
			continue
		}
		batch = append(batch, o)
	}
	e.setProgress(ctx, "", progress)
	ok := len(batch) == 0 || e.record(ctx, batch)
	if ok {
		// All at once: on a network bus each is a round trip.
		if err := bus.AckAll(ctx, ds); err != nil && !errors.Is(err, bus.ErrClosed) && ctx.Err() == nil {
			e.logger.Warn("engine: acknowledge results", "n", len(ds), "err", err)
		}
		return
	}
	for _, d := range ds {
		if err := d.Nack(ctx, time.Second); err != nil && !errors.Is(err, bus.ErrClosed) && ctx.Err() == nil {
			e.logger.Warn("engine: settle result", "task", d.ID, "err", err)
		}
	}
}

// outcomeOf reads a done task as the outcome of its attempt.
func (e *Engine) outcomeOf(m *bus.Message) (*outcome, error) {
	if m.ID == "" || m.Attempt < 1 {
		return nil, fmt.Errorf("%w: a result needs the task's id and attempt", ErrInvalid)
	}
	o := &outcome{id: m.ID, typ: m.Type, attempt: m.Attempt, maxAttempts: m.MaxAttempts, retry: m.Retry}
	if m.Started != nil {
		o.started = *m.Started
	}
	if m.Ended != nil {
		o.ended = *m.Ended
	}
	if m.Started != nil && m.Ended != nil {
		o.ran = m.Ended.Sub(*m.Started)
	}
	if a := e.inflight.get(store.Lease{ID: m.ID, Attempt: m.Attempt}); a != nil {
		o.typ, o.maxAttempts, o.retry = a.typ, a.maxAttempts, a.retry
	}
	if o.maxAttempts < 1 {
		o.maxAttempts = 1
	}
	switch m.Result {
	case bus.ResultComplete:
		o.msg = m.Msg
		if len(m.Output) > 0 && string(m.Output) != "null" {
			if err := json.Unmarshal(m.Output, &o.output); err != nil {
				o.err = loom.Permanent(fmt.Errorf("output is not a JSON object: %w", err))
			}
		}
	default:
		msg := m.Msg
		if msg == "" {
			msg = "worker reported an error"
		}
		o.err = errors.New(msg)
		if m.Permanent {
			o.err = loom.Permanent(o.err)
		} else if m.RetryAfterMS > 0 {
			o.err = loom.RetryAfter(o.err, time.Duration(m.RetryAfterMS)*time.Millisecond)
		}
	}
	return o, nil
}

// record applies the retry policy to each outcome and writes them all in
// one FinishTasks call, then tells waiters, flows and the dispatcher. It
// reports whether the store took them; if not, their leases lapse and the
// reaper re-queues the tasks.
func (e *Engine) record(ctx context.Context, batch []*outcome) bool {
	// The waiters, flows and dispatcher told at the end take holds of
	// their own before this one is let go.
	defer loom.Hold(e.clock)()
	// Logs first, so a task's log is complete when it is seen ended.
	e.logs.flush(ctx)
	now := e.clock.Now()
	outs := make([]store.Outcome, len(batch))
	ending := make(map[store.Lease]bool, len(batch))
	for i, o := range batch {
		outs[i] = e.decide(o, now)
		ending[store.Lease{ID: o.id, Attempt: o.attempt}] = true
	}
	// The store learns of the handlers that started since the last call in
	// the same transaction; those ending in it need no telling.
	var (
		started []store.Lease
		telling []*attempt
	)
	for _, a := range e.starts.take() {
		if !ending[a.lease] {
			started = append(started, a.lease)
			telling = append(telling, a)
		}
	}
	// The dispatcher needs waking only if it stopped claiming for want of
	// capacity (its own, or a queue's cap), may be about to (a pass is
	// under way), or a task goes back to pending: a wake that finds
	// nothing to claim costs a write transaction.
	wake := e.inflight.len() >= e.maxLocal || e.held.Load() || e.passing.Load()
	for i := range outs {
		if outs[i].Status == loom.StatusPending {
			wake = true
		}
	}
	observe := e.cfg.Metrics.StoreOp("FinishTasks")
	res, err := e.finish(ctx, outs, started, now)
	observe(err)
	if err == nil {
		// Those not told (the store failed) are told at the heartbeat.
		for _, a := range telling {
			a.marked.Store(true)
		}
	}
	for _, o := range batch {
		e.inflight.remove(store.Lease{ID: o.id, Attempt: o.attempt})
	}
	if err != nil {
		e.logger.Error("engine: record outcomes", "n", len(outs), "err", err)
		e.notify()
		return false
	}
	e.observeRecorded(batch, res)
	var byID map[string]*store.Outcome
	for _, r := range res {
		if !r.Applied || r.Task == nil {
			continue
		}
		e.recorded.Add(1)
		t := r.Task
		if t.ParentID != "" && t.Status.Terminal() {
			// A brief task lacks what its flow needs of it: the outcome
			// has it.
			if byID == nil {
				byID = make(map[string]*store.Outcome, len(outs))
				for i := range outs {
					byID[outs[i].ID] = &outs[i]
				}
			}
			if o := byID[t.ID]; o != nil {
				if t.Output == nil {
					t.Output = o.Output
				}
				if t.Msg == "" {
					t.Msg = o.Msg
				}
			}
			if t.Ended == nil {
				t.Ended = &now
			}
		}
		e.ended(e.whole(ctx, t))
	}
	if wake {
		e.notify()
	}
	return true
}

// finish writes outcomes with a few retries. A batch the store refuses
// because one task is gone (deleted since it was claimed) is written one
// outcome at a time, so that the others are recorded.
func (e *Engine) finish(ctx context.Context, outs []store.Outcome, started []store.Lease, now time.Time) ([]store.FinishResult, error) {
	var res []store.FinishResult
	var err error
	for try := 0; ; try++ {
		res, err = e.store.FinishTasks(ctx, &store.FinishTasksParams{Outcomes: outs, Now: now, Brief: true, Started: started})
		if err == nil || try == 4 {
			break
		}
		if errors.Is(err, store.ErrNotFound) && len(outs) > 1 {
			res = res[:0]
			for _, o := range outs {
				r, err := e.store.FinishTasks(ctx, &store.FinishTasksParams{Outcomes: []store.Outcome{o}, Now: now, Brief: true})
				if err != nil {
					if !errors.Is(err, store.ErrNotFound) {
						return nil, err
					}
					continue
				}
				res = append(res, r...)
			}
			return res, nil
		}
		e.logger.Warn("engine: record outcomes, will retry", "n", len(outs), "err", err)
		if loom.Sleep(ctx, e.clock, time.Duration(50<<try)*time.Millisecond) != nil {
			break
		}
	}
	return res, err
}

// whole returns t, a brief task FinishTasks returned, read whole when
// someone waits for it to end: Wait hands its callers the whole task.
// Nobody waits for most tasks, and reading them whole inside the
// recording transaction would cost as much as recording them. If the read
// fails, the waiter gets the brief task.
func (e *Engine) whole(ctx context.Context, t *loom.TaskInfo) *loom.TaskInfo {
	if !t.Status.Terminal() || !e.waiters.has(t.ID) {
		return t
	}
	full, err := e.store.GetTask(ctx, t.ID)
	if err != nil {
		e.logger.Warn("engine: read ended task", "task", t.ID, "err", err)
		return t
	}
	return full
}

// ended tells whoever waits on t that it changed: Wait callers once it has
// ended, its flow whenever it ended.
func (e *Engine) ended(t *loom.TaskInfo) {
	if !t.Status.Terminal() {
		return
	}
	e.observeEnded(t)
	e.waiters.ended(t)
	e.feed.nudge()
	if t.ParentID != "" {
		e.flows.pushEnded(t)
	}
}

// decide turns an attempt's result into the store outcome: completed,
// failed, or pending again at the time the retry policy says.
func (e *Engine) decide(o *outcome, now time.Time) store.Outcome {
	out := store.Outcome{ID: o.id, Attempt: o.attempt, WorkerID: o.workerID}
	if !o.released {
		// The worker's own account of when it ran is kept; a released
		// attempt did not run to an end.
		out.Started, out.Ended = o.started, o.ended
	}
	switch {
	case o.released && o.unstarted:
		out.Status, out.RetryAt, out.Unstarted = loom.StatusPending, now, true
		out.Msg = "released before it started: worker shut down; the attempt does not count"
		return out
	case o.released:
		out.Status, out.RetryAt, out.Msg = loom.StatusPending, now, "released: worker shut down"
		return out
	case o.err == nil:
		out.Status, out.Output, out.Msg = loom.StatusCompleted, o.output, o.msg
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
	policy := defaultRetry
	if reg := e.lookup(o.typ); reg != nil && reg.task.Retry != nil {
		policy = *reg.task.Retry
	}
	if o.retry != nil {
		// The task's own policy, set by whoever submitted it.
		policy = *o.retry.Policy(o.maxAttempts)
	}
	// The task object's budget governs how many; the policy how long.
	policy.MaxAttempts = o.maxAttempts
	delay, retry := policy.Next(o.attempt, o.err)
	if !retry {
		return out
	}
	out.Status, out.RetryAt = loom.StatusPending, now.Add(delay)
	out.Msg = fmt.Sprintf("attempt %d failed, retrying in %s: %s", o.attempt, roundDelay(delay), o.err)
	return out
}

// roundDelay is a retry's delay as people read it: to the millisecond
// under a second, to the second after.
func roundDelay(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}
