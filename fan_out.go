package loom

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// runFanOut runs a fan-out step: s.Task once per item of the list at input
// s.FanOut.Over, at most Parallelism at a time, each item a run of its own
// with the task's policies. The step's Result sums the items' attempts.
func (x *executor) runFanOut(ctx context.Context, s *Step, in Values, m *runMeta) *Result {
	fo := s.FanOut
	sctx := context.WithoutCancel(ctx)
	res := &Result{RunID: m.id, Name: s.Name, Started: x.now(), Attempts: 1}
	_ = x.record(sctx, s.Task, in, m, res, StatusRunning)
	if x.cfg.Events.listening() {
		x.emit(ctx, m.event(EventTaskStarted, s.Task, 1))
	}
	end := func(st Status, out Values, err error) *Result {
		res.Status, res.Output, res.Err, res.Ended = st, out, err, x.now()
		if err != nil {
			res.Message = err.Error()
		}
		_ = x.record(sctx, s.Task, in, m, res, st)
		x.emitEnd(ctx, s.Task, m, res)
		return res
	}

	items, err := listOf(in[fo.Over])
	if err != nil {
		return end(StatusFailed, nil, Permanent(fmt.Errorf("fan-out over %q: %w", fo.Over, err)))
	}
	base := make(Values, len(in))
	for k, v := range in {
		if k != fo.Over {
			base[k] = v
		}
	}

	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	// An item's Result stays on the stack of the goroutine that runs it:
	// only what the step's output sums up is kept, in slices made once for
	// all the items. An item that never started keeps an empty status.
	out := make([]any, len(items))
	errs := make([]string, len(items))
	ends := make([]itemEnd, len(items))
	// The first failed item's error (by index) is the step's.
	var (
		failMu    sync.Mutex
		firstFail = len(items)
		failErr   error
	)
	runItem := func(k int) {
		itemIn := make(Values, len(base)+1)
		maps.Copy(itemIn, base)
		itemIn[fo.As] = items[k]
		im := runMeta{flowRun: m.flowRun, item: true, of: m, index: k}
		var r Result
		if err := x.run(ictx, s.Task, itemIn, &im, &r); err != nil {
			r = Result{Status: StatusFailed, Err: err, Message: err.Error()}
		}
		ends[k] = itemEnd{how: itemOther, attempts: int32(r.Attempts)}
		switch r.Status {
		case StatusCompleted:
			ends[k].how = itemCompleted
			out[k] = r.Output
			return
		case StatusFailed:
			ends[k].how = itemFailed
			failMu.Lock()
			if k < firstFail {
				firstFail, failErr = k, r.Err
			}
			failMu.Unlock()
		}
		errs[k] = r.Message
		if fo.OnFailure == FailFast {
			cancel()
		}
	}

	limit := fo.Parallelism
	if limit <= 0 {
		limit = x.cfg.Parallelism
	}
	if x.slots == nil || limit == 1 {
		for k := range items {
			if ictx.Err() != nil {
				break
			}
			x.withSlot(ictx, func() { runItem(k) })
		}
	} else {
		// Each of limit goroutines takes the next item by counting, not
		// from a feeder, and keeps its slot for a few items in a row: no
		// hand-over between goroutines and little contention on the slots
		// per item, while other runs still get slots between the rounds.
		const itemsPerSlot = 16
		var next atomic.Int64
		var wg sync.WaitGroup
		for range min(limit, len(items)) {
			wg.Go(func() {
				for more := true; more; {
					x.withSlot(ictx, func() {
						for range itemsPerSlot {
							k := int(next.Add(1) - 1)
							if k >= len(items) || ictx.Err() != nil {
								more = false
								return
							}
							runItem(k)
						}
					})
					more = more && ictx.Err() == nil
				}
			})
		}
		wg.Wait()
	}

	failed, attempts := 0, 0
	for k, e := range ends {
		switch e.how {
		case itemCompleted:
		case itemNotRun: // the fan-out stopped early
			errs[k] = fmt.Errorf("%w: item did not run", ErrCancelled).Error()
			failed++
		default:
			failed++
		}
		attempts += int(e.attempts)
	}
	var firstErr error
	if firstFail < len(items) {
		firstErr = fmt.Errorf("item %d: %w", firstFail, failErr)
	}
	res.Attempts = max(attempts, 1)
	output := Values{fanOutResults: out, fanOutErrors: errs, fanOutFailed: failed}
	switch {
	case ctx.Err() != nil:
		return end(StatusCancelled, nil, cancelError(ctx, firstErr))
	case failed > 0 && fo.OnFailure == FailFast:
		return end(StatusFailed, nil, firstErr)
	}
	return end(StatusCompleted, output, nil)
}

// itemEnd is how a fan-out item ended: what the step's Result sums up,
// small since a fan-out keeps one per item.
type itemEnd struct {
	attempts int32
	how      itemHow
}

// itemHow is how a fan-out item ended.
type itemHow uint8

const (
	itemNotRun    itemHow = iota // the fan-out stopped before it
	itemCompleted                // StatusCompleted
	itemFailed                   // StatusFailed: its error may be the step's
	itemOther                    // cancelled
)

// itemNames returns the run id and the step name of item k of a fan-out
// step: the step's, each followed by "[k]", made in one allocation.
func itemNames(id, step string, k int) (itemID, itemStep string) {
	var num [20]byte
	n := strconv.AppendInt(num[:0], int64(k), 10)
	var b strings.Builder
	b.Grow(len(id) + len(step) + 2*(len(n)+2))
	for _, part := range [2]string{id, step} {
		b.WriteString(part)
		b.WriteByte('[')
		b.Write(n)
		b.WriteByte(']')
	}
	all := b.String()
	cut := len(id) + len(n) + 2
	return all[:cut], all[cut:]
}

// withSlot runs fn holding one of the executor's slots, if it has any.
func (x *executor) withSlot(ctx context.Context, fn func()) {
	if x.slots == nil {
		fn()
		return
	}
	if !x.slots.acquire(ctx) {
		return
	}
	defer x.slots.release()
	fn()
}

// listOf turns a fan-out's input into its items: any slice or array, as
// JSON decoding and Go code produce them.
func listOf(v any) ([]any, error) {
	switch l := v.(type) {
	case []any:
		return l, nil
	case nil:
		return nil, fmt.Errorf("input is not set")
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, fmt.Errorf("input is a %T, not a list", v)
	}
	out := make([]any, rv.Len())
	for k := range out {
		out[k] = rv.Index(k).Interface()
	}
	return out, nil
}
