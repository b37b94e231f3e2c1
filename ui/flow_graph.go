package ui

import (
	"net/url"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
)

// flowSteps are a flow definition's steps in the order it runs them
// (every step after those it waits for, ties in definition order), which
// is the order a reader follows; nil for no flow.
func flowSteps(f *loom.Flow) []loom.StepInfo {
	if f == nil {
		return nil
	}
	steps := f.Steps()
	at := make(map[string]int, len(steps))
	for i, s := range steps {
		at[s.Name] = i
	}
	out := make([]loom.StepInfo, 0, len(steps))
	for _, name := range f.Order() {
		if i, ok := at[name]; ok {
			out = append(out, steps[i])
		}
	}
	return out
}

// graphData is a flow's steps and dependencies, which layoutGraph places.
type graphData struct {
	Nodes []graphNode `json:"nodes"`
	Edges []graphEdge `json:"edges"`
}

// graphNode is one step of graphData.
type graphNode struct {
	Data struct {
		ID     string `json:"id"`
		Label  string `json:"label"`
		Status string `json:"status"`
		Href   string `json:"href,omitempty"`
	} `json:"data"`
	Classes string `json:"classes"`
	// items counts a fan-out step's items, drawn as a count and a ring.
	items *itemCount
}

type graphEdge struct {
	Data struct {
		ID     string `json:"id"`
		Source string `json:"source"`
		Target string `json:"target"`
	} `json:"data"`
}

// stepRow is one step of a flow run: its definition, its task if one was
// created, and where it sits on the timeline.
type stepRow struct {
	Name    string
	TaskDef string
	Task    *loom.TaskInfo
	// Status is the task's status, or "waiting" (not yet created),
	// "blocked" (downstream of a failure, never to run as things stand)
	// or "not run" (the flow ended without it).
	Status  string
	Blocked bool
	// Left and Width place the step's bar on the Gantt chart, in percent
	// of the flow's span.
	Left, Width float64
	// Items counts a fan-out step's items.
	Items *itemCount
}

// Bounds on a flow's page: a fan-out over many items has as many steps,
// which the page counts but does not all draw; the task list filtered to
// the flow's steps has them all.
const (
	// maxFlowSteps is the most steps drawn on the timeline and graph.
	maxFlowSteps = 200
	// maxFlowNames is the most failed or blocked step names listed.
	maxFlowNames = 20
)

// flowView is a flow run as the flow detail draws it.
type flowView struct {
	// Steps are the first maxFlowSteps steps; Total counts them all and
	// StepsURL lists them all.
	Steps    []stepRow
	Total    int
	StepsURL string
	// Failed and Blocked name the first maxFlowNames of those steps;
	// MoreFailed and MoreBlocked count the others.
	MoreFailed  int
	MoreBlocked int
	Graph       graphData
	HasDef      bool
	Failed      []string
	Blocked     []string
	Start       time.Time
	End         time.Time
	// Ticks mark the timeline's time axis.
	Ticks    []axisTick
	Counts   map[string]int
	Complete int
	// Latest is true when Steps are the newest of more steps than are
	// drawn, rather than the first.
	Latest bool
}

// buildFlowView joins a flow's definition (f, when the type is registered
// here) with its child tasks, marks the failed steps and everything
// downstream of them, and lays the steps out on a timeline from the flow's
// creation to its end (or now).
func buildFlowView(base string, parent *loom.TaskInfo, f *loom.Flow, children []*loom.TaskInfo, now time.Time) *flowView {
	def := flowSteps(f)
	fv := &flowView{HasDef: len(def) > 0, Counts: map[string]int{},
		StepsURL: base + "/tasks?" + url.Values{"parent": {parent.ID}, "steps": {"1"}}.Encode()}
	byStep := make(map[string]*loom.TaskInfo, len(children))
	for _, c := range children {
		if c.Step != "" {
			byStep[c.Step] = c
		}
	}
	names := make([]string, 0, max(len(def), len(children)))
	deps := map[string][]string{}
	taskOf := map[string]string{}
	known := map[string]bool{}
	for _, s := range def {
		names = append(names, s.Name)
		deps[s.Name] = s.DependsOn
		taskOf[s.Name] = s.Task
		known[s.Name] = true
	}
	for _, c := range children {
		name := c.Step
		if name == "" {
			name = c.ID
		}
		if !known[name] {
			known[name] = true
			names = append(names, name)
			taskOf[name] = c.Type
			byStep[name] = c
		}
	}

	// Downstream of every failed or cancelled step.
	down := func(step string) []string {
		if f == nil {
			return nil
		}
		return f.Downstream(step)
	}
	blocked := map[string]bool{}
	var queue []string
	for _, n := range names {
		if t := byStep[n]; t != nil && (t.Status == loom.StatusFailed || t.Status == loom.StatusCancelled) {
			if t.Status == loom.StatusFailed {
				fv.Failed = append(fv.Failed, n)
			}
			queue = append(queue, n)
		}
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, d := range down(n) {
			if blocked[d] {
				continue
			}
			if t := byStep[d]; t != nil && t.Status != loom.StatusPending && t.Status != loom.StatusCancelled {
				continue
			}
			blocked[d] = true
			fv.Blocked = append(fv.Blocked, d)
			queue = append(queue, d)
		}
	}

	// The timeline spans from the flow's creation to its end, or now.
	fv.Start = parent.Created
	fv.End = now
	if parent.Ended != nil {
		fv.End = *parent.Ended
	}
	for _, c := range children {
		if c.Ended != nil && c.Ended.After(fv.End) {
			fv.End = *c.Ended
		}
	}
	fv.Ticks = timeAxis(fv.Start, fv.End)
	span := fv.End.Sub(fv.Start)
	if span <= 0 {
		span = time.Millisecond
	}
	pos := func(t time.Time) float64 {
		p := float64(t.Sub(fv.Start)) / float64(span) * 100
		return min(max(p, 0), 100)
	}

	drawn := map[string]bool{}
	for _, n := range names {
		row := stepRow{Name: n, TaskDef: taskOf[n], Task: byStep[n], Blocked: blocked[n]}
		switch {
		case row.Task != nil:
			row.Status = string(row.Task.Status)
		case row.Blocked:
			row.Status = "blocked"
		case parent.Status.Terminal():
			row.Status = "not run"
		default:
			row.Status = "waiting"
		}
		if t := row.Task; t != nil && t.Started != nil {
			end := now
			if t.Ended != nil {
				end = *t.Ended
			}
			row.Left = pos(*t.Started)
			row.Width = max(pos(end)-row.Left, 0.4)
			if row.Left+row.Width > 100 {
				row.Left = 100 - row.Width
			}
		}
		fv.Counts[row.Status]++
		if row.Status == string(loom.StatusCompleted) || row.Status == string(loom.StatusSkipped) {
			fv.Complete++
		}
		fv.Total++
		if len(fv.Steps) >= maxFlowSteps {
			continue
		}
		fv.Steps = append(fv.Steps, row)

		var node graphNode
		node.Data.ID = "s:" + n
		node.Data.Label = n
		node.Data.Status = row.Status
		node.Classes = statusClass(row.Status)
		if row.Blocked {
			node.Classes += " blocked"
		}
		if row.Task != nil {
			node.Data.Href = base + "/tasks/" + url.PathEscape(row.Task.ID)
		}
		fv.Graph.Nodes = append(fv.Graph.Nodes, node)
		drawn[n] = true
		for _, d := range deps[n] {
			if !drawn[d] {
				continue
			}
			var e graphEdge
			e.Data.ID = "e:" + d + "->" + n
			e.Data.Source = "s:" + d
			e.Data.Target = "s:" + n
			fv.Graph.Edges = append(fv.Graph.Edges, e)
		}
	}
	if len(fv.Failed) > maxFlowNames {
		fv.Failed, fv.MoreFailed = fv.Failed[:maxFlowNames], len(fv.Failed)-maxFlowNames
	}
	if len(fv.Blocked) > maxFlowNames {
		fv.Blocked, fv.MoreBlocked = fv.Blocked[:maxFlowNames], len(fv.Blocked)-maxFlowNames
	}
	return fv
}

// countAll takes the counts of every child when the view was built from
// only some of them (the newest maxFlowSteps of a fan-out of thousands).
func (fv *flowView) countAll(sum *engine.ChildSummary) {
	if !sum.Truncated() {
		return
	}
	fv.Latest = true
	fv.Total = max(fv.Total, sum.Total)
	fv.Complete = sum.Counts[loom.StatusCompleted] + sum.Counts[loom.StatusSkipped]
	for st, n := range sum.Counts {
		fv.Counts[string(st)] = n
	}
	fv.MoreFailed = max(sum.Counts[loom.StatusFailed]-len(fv.Failed), 0)
}

// defGraph draws a flow definition without a run.
func defGraph(def []loom.StepInfo) graphData {
	var g graphData
	for _, s := range def {
		var node graphNode
		node.Data.ID = "s:" + s.Name
		node.Data.Label = s.Name
		node.Data.Status = "definition"
		node.Classes = "definition"
		g.Nodes = append(g.Nodes, node)
		for _, d := range s.DependsOn {
			var e graphEdge
			e.Data.ID = "e:" + d + "->" + s.Name
			e.Data.Source = "s:" + d
			e.Data.Target = "s:" + s.Name
			g.Edges = append(g.Edges, e)
		}
	}
	return g
}

// statusClass is the CSS class of a status: a fixed word, never user text.
func statusClass(s string) string {
	switch s {
	case "pending", "running", "completed", "failed", "cancelled", "skipped", "waiting", "blocked":
		return "st-" + s
	case "not run":
		return "st-notrun"
	case "delivered", "up", "resolved":
		return "st-completed"
	case "late", "open":
		return "st-failed"
	case "new", "paused":
		return "st-waiting"
	}
	return "st-other"
}
