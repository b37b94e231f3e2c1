package loom

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
)

// runFanOut runs a fan-out step: s.Task once per item of the list at input
// s.FanOut.Over, at most Parallelism at a time, each item a run of its own
// with the task's policies. The step's Result sums the items' attempts.
func (x *executor) runFanOut(ctx context.Context, s *Step, in Values, m *runMeta) *Result {
	fo := s.FanOut
	sctx := context.WithoutCancel(ctx)
	res := &Result{RunID: m.id, Name: s.Name, Started: x.cfg.Clock.Now(), Attempts: 1}
	_ = x.record(sctx, s.Task, in, m, res, StatusRunning)
	if x.cfg.Events != nil {
		x.emit(ctx, m.event(EventTaskStarted, s.Task, 1))
	}
	end := func(st Status, out Values, err error) *Result {
		res.Status, res.Output, res.Err, res.Ended = st, out, err, x.cfg.Clock.Now()
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
	results := make([]*Result, len(items))
	runItem := func(k int) {
		itemIn := make(Values, len(base)+1)
		maps.Copy(itemIn, base)
		itemIn[fo.As] = items[k]
		idx := "[" + strconv.Itoa(k) + "]"
		im := &runMeta{id: m.id + idx, flowRun: m.flowRun, step: s.Name + idx, item: true}
		r, err := x.run(ictx, s.Task, itemIn, im)
		if err != nil {
			now := x.cfg.Clock.Now()
			r = &Result{RunID: im.id, Name: im.step, Status: StatusFailed, Err: err, Message: err.Error(), Started: now, Ended: now}
		}
		results[k] = r
		if r.Status != StatusCompleted && fo.OnFailure == FailFast {
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

	out := make([]any, len(items))
	errs := make([]string, len(items))
	failed, attempts := 0, 0
	var firstErr error
	for k, r := range results {
		if r == nil { // never started: the fan-out stopped early
			r = &Result{Status: StatusCancelled, Err: fmt.Errorf("%w: item did not run", ErrCancelled)}
			r.Message = r.Err.Error()
		}
		attempts += r.Attempts
		if r.Status == StatusCompleted {
			out[k] = r.Output
			continue
		}
		failed++
		errs[k] = r.Message
		if firstErr == nil && r.Status == StatusFailed {
			firstErr = fmt.Errorf("item %d: %w", k, r.Err)
		}
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

// withSlot runs fn holding one of the executor's slots, if it has any.
func (x *executor) withSlot(ctx context.Context, fn func()) {
	if x.slots == nil {
		fn()
		return
	}
	select {
	case x.slots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-x.slots }()
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
