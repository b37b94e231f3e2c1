package ui

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// A fan-out step of a flow runs as a task of its own (type flow/step[])
// whose children are its items, named step[k]. The flow's graph draws it
// as one node with a count of its items and a ring of how many are done,
// linked to the list of its items; the step's page shows its items' logs,
// one item after another.

// Bounds on what a fan-out step's page shows of its items' logs: the
// first maxItemLogs items, each its latest attempt's first maxItemChunks
// chunks. Every item's own page has its whole log.
const (
	maxItemLogs   = 20
	maxItemChunks = 50
)

// fanOutStep reports whether t is a fan-out step of a flow.
func fanOutStep(t *loom.TaskInfo) bool {
	return t != nil && t.ParentID != "" && strings.HasSuffix(t.Type, "[]")
}

// itemNumber is k of a fan-out item's step name step[k]; -1 if none.
func itemNumber(step string) int {
	i := strings.LastIndexByte(step, '[')
	if i < 0 || !strings.HasSuffix(step, "]") {
		return -1
	}
	k, err := strconv.Atoi(step[i+1 : len(step)-1])
	if err != nil || k < 0 {
		return -1
	}
	return k
}

// itemsURL is the task list of a fan-out step's items: filtered to them,
// paginated.
func itemsURL(base, id string) string {
	return base + "/tasks?" + url.Values{"parent": {id}, "steps": {"1"}}.Encode()
}

// countFanOuts gives each drawn fan-out step of fv its items' count and
// progress, and links its node to its items. def is the flow's
// definition, when known here, which says how long each step's list is
// before all of its items exist.
func (u *UI) countFanOuts(ctx context.Context, fv *flowView, def []loom.StepInfo) error {
	over := map[string]string{}
	for _, s := range def {
		if s.FanOut != nil {
			over[s.Name] = s.FanOut.Over
		}
	}
	for i := range fv.Steps {
		row := &fv.Steps[i]
		if !fanOutStep(row.Task) {
			continue
		}
		sum, err := u.engine.ChildSummary(ctx, row.Task.ID, 1)
		if err != nil {
			return err
		}
		it := &itemCount{Done: sum.Counts[loom.StatusCompleted] + sum.Counts[loom.StatusSkipped], Total: sum.Total}
		// Items are created as parallelism allows: the list itself says
		// how many there will be.
		if key, ok := over[row.Name]; ok {
			if v := reflect.ValueOf(row.Task.Input[key]); v.Kind() == reflect.Slice || v.Kind() == reflect.Array {
				it.Total = max(it.Total, v.Len())
			}
		}
		row.Items = it
		node := &fv.Graph.Nodes[i]
		node.items = it
		node.Data.Href = itemsURL(u.cfg.BasePath, row.Task.ID)
	}
	return nil
}

// itemLog is one fan-out item's latest attempt's log on its step's page.
type itemLog struct {
	Item *loom.TaskInfo
	Log  *logView
}

// itemLogs reads the logs of the first maxItemLogs of a fan-out step's
// items, in item order; more is true when it has more items than that.
func (u *UI) itemLogs(r *http.Request, items []*loom.TaskInfo, total int) (logs []itemLog, more bool, err error) {
	items = slices.Clone(items)
	slices.SortStableFunc(items, func(a, b *loom.TaskInfo) int { return cmp.Compare(itemNumber(a.Step), itemNumber(b.Step)) })
	if len(items) > maxItemLogs {
		items = items[:maxItemLogs]
	}
	for _, it := range items {
		il := itemLog{Item: it}
		if it.Attempt > 0 {
			chunks, err := u.engine.Logs(r.Context(), &store.GetLogsParams{TaskID: it.ID, Attempt: it.Attempt, Limit: maxItemChunks + 1})
			if err != nil {
				return nil, false, err
			}
			il.Log = logViewOf(it, it.Attempt, chunks, maxItemChunks)
		}
		logs = append(logs, il)
	}
	return logs, total > len(logs), nil
}
