package engine

import (
	"context"
	"errors"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// The engine emits the library's task and flow events on Config.Events, so
// that listeners, loom.TriggerTask and loomtest.Recorder work on durable
// runs as they do in memory. The events are derived from the store's event
// log, the one record of what happened to every task, rather than from
// the code paths that made the changes: a change made by another engine
// on the same store, or by a worker elsewhere, is emitted too, and in the
// order the store recorded it.
//
// The store's events map to the library's as follows (a flow's own task
// gives flow.* events where a plain task gives task.*):
//
//	started (an attempt was claimed)   task.started, flow.started
//	retrying (failed, will run again)  task.retrying, with Delay and Error
//	completed                          task.completed, flow.completed, with Output
//	failed, expired                    task.failed, flow.failed, with Error
//	cancelled                          task.cancelled
//	created with status skipped        task.skipped (a flow step whose condition was false)
//	created already ended              task.replayed (a step answered by its key's holder)
//
// A step's event carries its flow's task id in FlowRunID and the step's
// name in Step; RunID is always the task id. Events are emitted by the
// feed's own goroutine, after the store recorded the change: a waiter told
// that a task ended (Wait, DistributedExecutor.Execute) may return before
// the task's last event is emitted, so a test waits for the event itself
// (loomtest.Recorder.WaitFor).

// feedBatch is how many store events the feed reads at once.
const feedBatch = 500

// eventFeed is the state of the goroutine that turns store events into
// library events.
type eventFeed struct {
	// wake is nudged whenever this engine changed the store.
	wake chan struct{}
}

func (f *eventFeed) init() { f.wake = make(chan struct{}, 1) }

// nudge tells the feed the store has new events.
func (f *eventFeed) nudge() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// feedEvents emits the library events of every store event appended
// after it started until ctx is done. It reads as soon as this engine
// changed the store, and every PollInterval for changes other processes
// made.
func (e *Engine) feedEvents(ctx context.Context, from int64) {
	seq := from
	for ctx.Err() == nil {
		evs, err := e.store.ListEvents(ctx, &store.ListEventsParams{AfterSeq: seq, Limit: feedBatch})
		if err != nil && ctx.Err() == nil {
			e.logger.Warn("engine: read events to emit", "err", err)
		}
		for _, se := range evs {
			if le, ok := e.libraryEvent(ctx, se); ok {
				e.cfg.Events.Emit(ctx, le)
			}
			seq = se.Seq
		}
		if len(evs) == feedBatch {
			continue
		}
		// The poll notices other processes' changes: it is real time, not
		// the engine's clock, so that a fake clock driving a test (which
		// skips to the next timer) is not moved by it.
		timer := time.NewTimer(e.cfg.PollInterval)
		select {
		case <-ctx.Done():
		case <-e.feed.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// libraryEvent turns one store event into the library's; ok is false for
// store events the library has no counterpart of (created, retried,
// requeued, signalled).
func (e *Engine) libraryEvent(ctx context.Context, se store.Event) (loom.Event, bool) {
	var typ, flowTyp loom.EventType
	switch se.Type {
	case "started":
		typ, flowTyp = loom.EventTaskStarted, loom.EventFlowStarted
	case "retrying":
		typ, flowTyp = loom.EventTaskRetrying, loom.EventTaskRetrying
	case "completed":
		typ, flowTyp = loom.EventTaskCompleted, loom.EventFlowCompleted
	case "failed", "expired":
		typ, flowTyp = loom.EventTaskFailed, loom.EventFlowFailed
	case "cancelled":
		typ, flowTyp = loom.EventTaskCancelled, loom.EventTaskCancelled
	case "created":
		switch se.Status {
		case loom.StatusSkipped:
			typ, flowTyp = loom.EventTaskSkipped, loom.EventTaskSkipped
		case loom.StatusCompleted, loom.StatusFailed:
			// A step answered by the task holding its idempotency key.
			typ, flowTyp = loom.EventTaskReplayed, loom.EventTaskReplayed
		default:
			return loom.Event{}, false
		}
	default:
		return loom.Event{}, false
	}
	t, err := e.store.GetTask(ctx, se.TaskID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			e.logger.Warn("engine: read task of event", "task", se.TaskID, "err", err)
		}
		return loom.Event{}, false
	}
	if reg := e.lookup(t.Type); reg != nil && reg.flow != nil {
		typ = flowTyp
	}
	le := loom.Event{
		Type: typ, Time: se.Time, RunID: t.ID, FlowRunID: t.ParentID, Task: t.Type, Step: t.Step,
		Attempt: se.Attempt,
	}
	switch typ {
	case loom.EventTaskRetrying:
		le.Error = se.Msg
		if s, ok := se.Data["retry_at"].(string); ok {
			if at, err := time.Parse(time.RFC3339Nano, s); err == nil {
				le.Delay = max(at.Sub(se.Time), 0)
			}
		}
	case loom.EventTaskCompleted, loom.EventFlowCompleted, loom.EventTaskReplayed:
		le.Output = t.Output
	case loom.EventTaskFailed, loom.EventFlowFailed, loom.EventTaskCancelled, loom.EventTaskSkipped:
		le.Error = se.Msg
	}
	return le, true
}

// latestEventSeq returns the sequence number of the store's newest event
// (zero when it has none), so that the feed starts at the present rather
// than replaying history. The store has no call that returns the newest
// event, so it gallops, then bisects, over "is there an event after x?":
// a few dozen indexed lookups however long the log is.
func (e *Engine) latestEventSeq(ctx context.Context) (int64, error) {
	after := func(x int64) (int64, bool, error) {
		evs, err := e.store.ListEvents(ctx, &store.ListEventsParams{AfterSeq: x, Limit: 1})
		if err != nil || len(evs) == 0 {
			return 0, false, err
		}
		return evs[0].Seq, true, nil
	}
	// An event lies after lo (or lo is -1); none lies after hi.
	lo, hi := int64(-1), int64(1024)
	for {
		s, ok, err := after(hi)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		lo, hi = s-1, max(hi*2, s*2)
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		s, ok, err := after(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = max(mid, s-1)
		} else {
			hi = mid
		}
	}
	return hi, nil
}

// emitReplayed emits the task.replayed event of a run that returned an
// earlier run's Result instead of running, as the library's executors do.
// It has no store event: nothing changed in the store.
func (e *Engine) emitReplayed(ctx context.Context, t *loom.Task, res *loom.Result) {
	if e.cfg.Events == nil {
		return
	}
	e.cfg.Events.Emit(ctx, loom.Event{
		Type: loom.EventTaskReplayed, Time: e.clock.Now(), RunID: res.RunID, Task: t.Name,
		Attempt: res.Attempts, Output: res.Output, Error: res.Message,
	})
}
