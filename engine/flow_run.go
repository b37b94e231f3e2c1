package engine

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/loomhq/loom"
)

// flowRun is what the engine keeps in memory of a running flow between
// advances: its parent task, the scheduling state, and each child's
// latest known status. It is loaded from the store once (when the flow
// starts, after a restart, or when it turns out stale) and then kept up
// to date from the children that end, so that advancing a flow costs the
// steps that changed rather than re-reading and re-deciding all of them.
//
// It is stale when another engine on the same store advanced the flow: a
// child it does not know ends, or a step it would insert exists already.
// Either makes the engine drop it and load it afresh.
type flowRun struct {
	parent *loom.TaskInfo
	flow   *loom.Flow
	state  *loom.FlowState
	// children by step name (steps and compensations), and step names by
	// child id.
	children map[string]*childRef
	ids      map[string]string
	// fan is set instead of flow and state for a fan-out step's task.
	fan *fanOutRun
}

// waiting reports whether the run has children that have not ended, and
// so waits for them.
func (r *flowRun) waiting() bool {
	if r.fan != nil {
		return r.fan.running > 0
	}
	for _, c := range r.children {
		if !c.status.Terminal() {
			return true
		}
	}
	return false
}

// childRef is what a flowRun knows of one child task.
type childRef struct {
	id     string
	step   string
	status loom.Status
	msg    string
	ended  *time.Time
	output loom.Values
}

// info is the child as a task object, for failedStepMsg.
func (c *childRef) info() *loom.TaskInfo {
	return &loom.TaskInfo{ID: c.id, Step: c.step, Status: c.status, Msg: c.msg, Ended: c.ended}
}

func newFlowRun(parent *loom.TaskInfo) *flowRun {
	return &flowRun{parent: parent, children: make(map[string]*childRef), ids: make(map[string]string)}
}

// add records a child the run did not know, as the store has it.
func (r *flowRun) add(t *loom.TaskInfo) *childRef {
	c := &childRef{id: t.ID, step: t.Step, status: t.Status, msg: t.Msg, ended: t.Ended, output: t.Output}
	r.children[t.Step] = c
	r.ids[t.ID] = t.Step
	return c
}

// apply takes in a child that changed. It reports false when the child
// is not one the run knows, which means the run is stale.
func (r *flowRun) apply(t *loom.TaskInfo) bool {
	step, ok := r.ids[t.ID]
	if !ok {
		return false
	}
	c := r.children[step]
	if c.status.Terminal() || !t.Status.Terminal() {
		return true
	}
	c.status, c.msg, c.ended, c.output = t.Status, t.Msg, t.Ended, t.Output
	switch {
	case r.fan != nil:
		r.fan.ended(c)
	case r.state != nil:
		r.state.End(step, t.Status, t.Output)
	}
	return true
}

// load fills a flow's state from its children as the store has them:
// those still running started, those ended told in the order they ended,
// so that compensation undoes them in reverse.
func (r *flowRun) load(children []*loom.TaskInfo) {
	r.state = r.flow.NewState(r.parent.Input)
	var ended []*childRef
	for _, t := range children {
		if t.Step == "" {
			continue
		}
		c := r.add(t)
		if t.Status.Terminal() {
			ended = append(ended, c)
		} else {
			r.state.Start(t.Step)
		}
	}
	slices.SortStableFunc(ended, func(a, b *childRef) int {
		switch {
		case a.ended == nil || b.ended == nil:
			return 0
		}
		return cmp.Compare(a.ended.UnixNano(), b.ended.UnixNano())
	})
	for _, c := range ended {
		r.state.End(c.step, c.status, c.output)
	}
}

// flowRuns holds the runs of the flows this engine advances, by parent
// id. Only the advancing goroutine reads and changes a run; others may
// drop one to make it load afresh.
type flowRuns struct {
	mu sync.Mutex
	m  map[string]*flowRun
}

func (rs *flowRuns) get(id string) *flowRun {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.m[id]
}

func (rs *flowRuns) put(r *flowRun) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.m == nil {
		rs.m = make(map[string]*flowRun)
	}
	rs.m[r.parent.ID] = r
}

func (rs *flowRuns) drop(id string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	delete(rs.m, id)
}
