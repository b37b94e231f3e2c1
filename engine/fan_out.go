package engine

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/loomhq/loom"
)

// A fan-out step runs durably as a parent task of its own (the step's
// child in the flow, of type flow/step) that never reaches a worker, like
// a flow: the engine advances it. Each item of the list is a child task of
// it, of the step's task type, named step[k], with the item in its input
// under FanOut.As beside the step's other inputs, so a worker anywhere
// runs it with nothing but its input. At most Parallelism items exist
// unended at a time (created and pending ones count), across all workers.
// Each item is retried by its own task's policy; the fan-out task itself
// has one attempt, so a failing item is never re-run by a retry of the
// whole step. A crash loses nothing: completed items keep their outputs
// in the store, and only the items that had not completed run again.

// fanOutRun is the state of a fan-out step's items, kept in its flowRun.
type fanOutRun struct {
	fo    loom.FanOut
	task  *loom.Task // what each item runs
	items []any
	base  loom.Values // the step's inputs but the list
	// next is how many items have been created (always a prefix of the
	// list: items are created in order), running how many of them have
	// not ended.
	next    int
	running int
	results []any
	errs    []string
	failed  int
	// firstBad describes the first item that failed (or, if none failed,
	// was cancelled).
	firstBad    string
	firstFailed bool
	listErr     error
}

// newFanOutRun reads a fan-out task's input and the items created so far.
func newFanOutRun(r *flowRun, reg *registration, children []*loom.TaskInfo) {
	fo := *reg.fanOut
	fr := &fanOutRun{fo: fo, task: reg.item}
	r.fan = fr
	fr.items, fr.listErr = listOf(r.parent.Input[fo.Over])
	fr.base = make(loom.Values, len(r.parent.Input))
	for k, v := range r.parent.Input {
		if k != fo.Over {
			fr.base[k] = v
		}
	}
	fr.results = make([]any, len(fr.items))
	fr.errs = make([]string, len(fr.items))
	for _, t := range children {
		k, ok := itemIndex(t.Step)
		if !ok || k >= len(fr.items) {
			continue
		}
		c := r.add(t)
		fr.next = max(fr.next, k+1)
		fr.running++
		if t.Status.Terminal() {
			fr.ended(c)
		}
	}
}

// ended takes in an item that ended.
func (fr *fanOutRun) ended(c *childRef) {
	k, ok := itemIndex(c.step)
	if !ok || k >= len(fr.items) {
		return
	}
	fr.running--
	if c.status == loom.StatusCompleted || c.status == loom.StatusSkipped {
		fr.results[k] = c.output
		return
	}
	fr.failed++
	fr.errs[k] = c.msg
	if failed := c.status == loom.StatusFailed; fr.firstBad == "" || failed && !fr.firstFailed {
		fr.firstBad = fmt.Sprintf("item %d %s: %s", k, c.status, c.msg)
		fr.firstFailed = failed
	}
}

// itemStep is the step name of item k of a fan-out step.
func itemStep(step string, k int) string { return step + "[" + strconv.Itoa(k) + "]" }

// itemIndex reads k back from a step name made by itemStep.
func itemIndex(step string) (int, bool) {
	i := strings.LastIndexByte(step, '[')
	if i < 0 || !strings.HasSuffix(step, "]") {
		return 0, false
	}
	k, err := strconv.Atoi(step[i+1 : len(step)-1])
	return k, err == nil && k >= 0
}

// fanOutLimit is how many items of a fan-out may be unended at once.
func (e *Engine) fanOutLimit(fo loom.FanOut) int {
	if fo.Parallelism > 0 {
		return fo.Parallelism
	}
	if e.cfg.Workers > 0 {
		return e.cfg.Workers
	}
	return e.cfg.DispatchBatch
}

// advanceFanOut creates items while Parallelism allows, stops the others
// at the first failure under FailFast, and ends the fan-out task once
// every item has ended, with the library's output: results, errors and
// failed, one entry per item in the list's order.
func (e *Engine) advanceFanOut(ctx context.Context, r *flowRun) error {
	fr, parent := r.fan, r.parent
	if fr.listErr != nil {
		return e.endFlow(ctx, parent, loom.StatusFailed, nil, fmt.Sprintf("fan-out over %q: %s", fr.fo.Over, fr.listErr))
	}
	if fr.failed > 0 && fr.fo.OnFailure == loom.FailFast {
		if fr.running > 0 {
			return e.cancelChildren(ctx, r, "another item of the fan-out failed")
		}
		return e.endFlow(ctx, parent, loom.StatusFailed, nil, fr.firstBad)
	}
	if n := min(e.fanOutLimit(fr.fo)-fr.running, len(fr.items)-fr.next); n > 0 {
		ts := make([]*loom.TaskInfo, n)
		for j := range ts {
			k := fr.next + j
			in := make(loom.Values, len(fr.base)+1)
			for key, v := range fr.base {
				in[key] = v
			}
			in[fr.fo.As] = fr.items[k]
			ts[j] = &loom.TaskInfo{
				Type: fr.task.Name, Queue: parent.Queue, ParentID: parent.ID, Step: itemStep(parent.Step, k),
				Input: in, Priority: parent.Priority, Timeout: parent.Timeout,
				MaxAttempts: maxAttemptsOf(fr.task), Attributes: parent.Attributes,
			}
		}
		fr.next += n
		fr.running += n
		return e.insertChildren(ctx, r, ts)
	}
	if fr.running > 0 || fr.next < len(fr.items) {
		return nil
	}
	return e.endFlow(ctx, parent, loom.StatusCompleted, loom.Values{
		"results": fr.results, "errors": fr.errs, "failed": fr.failed,
	}, "")
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
