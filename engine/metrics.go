package engine

import (
	"context"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/metrics"
	"github.com/loomhq/loom/store"
)

// The engine's hooks into Config.Metrics. Each is cheap when Metrics is
// nil: the methods of a nil *metrics.Metrics return at once.

// setupMetrics makes the engine's queues known to Config.Metrics, counts
// the deliveries of the engine's bus, and reports the store's gauges and
// the breakers' state.
func (e *Engine) setupMetrics() {
	m := e.cfg.Metrics
	if m == nil {
		return
	}
	for _, q := range e.cfg.Queues {
		m.KnowQueues(q.Name)
	}
	m.KnowQueues(loom.DefaultQueue)
	e.bus = metrics.InstrumentBus(e.bus, m)
	m.WatchStore(metrics.StoreConfig{Store: e.store, Clock: e.clock, WorkerTimeout: e.cfg.LeaseDuration, Logger: e.logger})
	e.unwatch = m.WatchBreakers(e.cfg.Events)
}

// insertTasks is store.InsertTasks, timed, with the tasks it created
// counted as submitted.
func (e *Engine) insertTasks(ctx context.Context, p *store.InsertTasksParams) ([]store.InsertResult, error) {
	done := e.cfg.Metrics.StoreOp("InsertTasks")
	res, err := e.store.InsertTasks(ctx, p)
	done(err)
	for _, r := range res {
		if !r.Existing && r.Task != nil {
			e.cfg.Metrics.Submitted(r.Task.Type, r.Task.Queue)
		}
	}
	return res, err
}

// observeClaimed counts claimed attempts as started, with how long each
// first attempt waited since its task was due.
func (e *Engine) observeClaimed(tasks []*loom.TaskInfo, now time.Time) {
	if e.cfg.Metrics == nil {
		return
	}
	for _, t := range tasks {
		due := t.Created
		if t.RunAt.After(due) {
			due = t.RunAt
		}
		e.cfg.Metrics.Started(t.Type, t.Queue, t.Attempt, now.Sub(due))
	}
}

// observeRecorded counts what FinishTasks applied: attempts' durations,
// and retries (a failed attempt whose task is pending again).
func (e *Engine) observeRecorded(batch []*outcome, res []store.FinishResult) {
	if e.cfg.Metrics == nil {
		return
	}
	byID := make(map[string]*outcome, len(batch))
	for _, o := range batch {
		byID[o.id] = o
	}
	for _, r := range res {
		if !r.Applied || r.Task == nil {
			continue
		}
		o := byID[r.Task.ID]
		if o == nil || o.released {
			continue
		}
		if o.ran > 0 {
			e.cfg.Metrics.AttemptDone(o.typ, o.err == nil, o.ran)
		}
		if o.err != nil && r.Task.Status == loom.StatusPending {
			e.cfg.Metrics.Retried(o.typ)
		}
	}
}

// observeEnded counts a task that reached its end.
func (e *Engine) observeEnded(t *loom.TaskInfo) {
	if t == nil || !t.Status.Terminal() {
		return
	}
	var result string
	switch t.Status {
	case loom.StatusCompleted:
		result = metrics.ResultCompleted
	case loom.StatusCancelled:
		result = metrics.ResultCancelled
	case loom.StatusSkipped:
		result = metrics.ResultSkipped
	default:
		result = metrics.ResultFailed
	}
	e.cfg.Metrics.Finished(t.Type, t.Queue, result)
}
