package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/store"
)

// DefaultProgressInterval is the least time between two progress reports
// a worker sends of one attempt: handlers may report as often as they
// like, and the latest report waits at most this long.
const DefaultProgressInterval = 250 * time.Millisecond

// pendingProgress is the latest unsent report of one attempt, with what a
// progress message needs besides.
type pendingProgress struct {
	m *bus.Message
	p loom.Progress
	// workerID, when set, is the worker that must still hold the attempt
	// (store.SetProgressParams.WorkerID).
	workerID string
}

// progressBuffer coalesces handlers' progress reports (loom.ReportProgress)
// and sends the latest of each attempt at most every interval: to the
// store for an engine's embedded workers, as progress messages on the bus
// for a worker elsewhere. A report costs the handler a lock and a map
// write, whatever the rate it reports at.
type progressBuffer struct {
	clock    loom.Clock
	interval time.Duration
	send     func(ctx context.Context, ps []pendingProgress)

	mu      sync.Mutex
	pending map[store.Lease]pendingProgress
	// flushMu is held while a batch is sent, so that settle can wait for
	// a report of its attempt already on its way.
	flushMu sync.Mutex
	wake    chan struct{}
}

func newProgressBuffer(clock loom.Clock, interval time.Duration, send func(context.Context, []pendingProgress)) *progressBuffer {
	return &progressBuffer{
		clock: clock, interval: interval, send: send,
		pending: make(map[store.Lease]pendingProgress),
		wake:    make(chan struct{}, 1),
	}
}

// attempt returns the progress function of the attempt m carries, and
// settle, which the worker calls once the handler has returned: it stops
// the function, waits for any report of the attempt being sent, and
// returns the report not sent yet, if any, for the done message to carry.
func (b *progressBuffer) attempt(m *bus.Message) (report loom.ProgressFunc, settle func() (*loom.Progress, bool)) {
	l := store.Lease{ID: m.ID, Attempt: m.Attempt}
	var ended atomic.Bool
	report = func(done, total int64, msg string) {
		if ended.Load() {
			return
		}
		b.put(pendingProgress{m: m, p: loom.Progress{Done: done, Total: total, Message: msg, UpdatedAt: b.clock.Now()}})
	}
	settle = func() (*loom.Progress, bool) {
		ended.Store(true)
		pp, ok := b.take(l)
		if !ok {
			return nil, false
		}
		return &pp.p, true
	}
	return report, settle
}

// put makes pp the latest report of its attempt, to be sent soon.
func (b *progressBuffer) put(pp pendingProgress) {
	b.mu.Lock()
	b.pending[store.Lease{ID: pp.m.ID, Attempt: pp.m.Attempt}] = pp
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// take waits for any report of attempt l being sent, and returns and
// forgets the one not sent yet, if any.
func (b *progressBuffer) take(l store.Lease) (pendingProgress, bool) {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	pp, ok := b.pending[l]
	delete(b.pending, l)
	return pp, ok
}

// flush sends every pending report.
func (b *progressBuffer) flush(ctx context.Context) {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.mu.Unlock()
		return
	}
	ps := make([]pendingProgress, 0, len(b.pending))
	for l, pp := range b.pending {
		ps = append(ps, pp)
		delete(b.pending, l)
	}
	b.mu.Unlock()
	b.send(ctx, ps)
}

// run sends reports as they come, waiting at least interval of real time
// between two batches, until ctx is done. What is pending then is dropped:
// the attempts are stopping, and a done message carries its attempt's
// last report.
func (b *progressBuffer) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
		}
		b.flush(ctx)
		t := time.NewTimer(b.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// progressReports turns pending reports into the store's form.
func progressReports(ps []pendingProgress) []store.ProgressReport {
	out := make([]store.ProgressReport, len(ps))
	for i, pp := range ps {
		out[i] = store.ProgressReport{Lease: store.Lease{ID: pp.m.ID, Attempt: pp.m.Attempt}, Progress: pp.p}
	}
	return out
}

// progressMessages turns pending reports into progress messages for the
// bus: the attempt's identity and lease, and its progress.
func progressMessages(ps []pendingProgress) []bus.Message {
	out := make([]bus.Message, len(ps))
	for i, pp := range ps {
		p := pp.p
		out[i] = bus.Message{ID: pp.m.ID, Type: pp.m.Type, Queue: pp.m.Queue, Attempt: pp.m.Attempt, Lease: pp.m.Lease, Progress: &p}
	}
	return out
}

// setPulledProgress keeps the reports of pull workers, each guarded by the
// worker that sent it.
func (e *Engine) setPulledProgress(ctx context.Context, ps []pendingProgress) {
	byWorker := make(map[string][]pendingProgress)
	for _, pp := range ps {
		byWorker[pp.workerID] = append(byWorker[pp.workerID], pp)
	}
	for w, ps := range byWorker {
		e.setProgress(ctx, w, progressReports(ps))
	}
}

// setProgress keeps reports in the store, as far as their attempts still
// run. A store that cannot take them does not fail anything: progress is
// a status, and the next report replaces it.
func (e *Engine) setProgress(ctx context.Context, workerID string, reports []store.ProgressReport) {
	if len(reports) == 0 {
		return
	}
	observe := e.cfg.Metrics.StoreOp("SetProgress")
	_, err := e.store.SetProgress(ctx, &store.SetProgressParams{Reports: reports, WorkerID: workerID})
	observe(err)
	if err != nil && ctx.Err() == nil {
		e.logger.Warn("engine: keep progress", "n", len(reports), "err", err)
	}
}
