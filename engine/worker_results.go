package engine

import (
	"context"
	"errors"

	"github.com/loomhq/loom/bus"
)

// resultBatch is the most results one PublishDone call of a worker sends.
const resultBatch = 1000

// result is a handler's done message on its way to the bus, with the
// ready delivery to acknowledge once it is published.
type result struct {
	done bus.Message
	d    bus.Delivery
	// published receives whether the done message reached the bus; the
	// ready delivery is settled by then.
	published chan bool
}

// publishResults sends the results the handlers hand it, all those waiting
// in one PublishDone call, then acknowledges their ready deliveries in one
// AckAll: on a network bus, two round trips for a batch instead of two a
// task. It returns once results is closed and drained.
func (w *Worker) publishResults(results <-chan result) {
	batch := make([]result, 0, resultBatch)
	msgs := make([]bus.Message, 0, resultBatch)
	for r := range results {
		batch = append(batch[:0], r)
	more:
		for len(batch) < resultBatch {
			select {
			case r, ok := <-results:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		msgs = msgs[:0]
		for _, r := range batch {
			msgs = append(msgs, r.done)
		}
		ctx := context.Background()
		err := w.cfg.Bus.PublishDone(ctx, msgs...)
		if err != nil {
			if !errors.Is(err, bus.ErrClosed) {
				w.cfg.Logger.Error("engine: worker: publish results", "n", len(msgs), "err", err)
			}
			for _, r := range batch {
				w.settle(r.d, false)
				r.published <- false
			}
			continue
		}
		var ds []bus.Delivery
		for _, r := range batch {
			ds = append(ds, w.release(r.d)...)
		}
		if err := bus.AckAll(ctx, ds); err != nil && !errors.Is(err, bus.ErrClosed) {
			w.cfg.Logger.Warn("engine: worker: acknowledge tasks", "n", len(ds), "err", err)
		}
		for _, r := range batch {
			r.published <- true
		}
	}
}

// report hands a handler's done message to publishResults and waits until
// it is published and d acknowledged, or handed back if the bus refused
// it.
func (w *Worker) report(done bus.Message, d bus.Delivery) {
	r := result{done: done, d: d, published: make(chan bool, 1)}
	w.results <- r
	<-r.published
}
