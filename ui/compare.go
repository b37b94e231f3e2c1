package ui

import (
	"net/http"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// compareRow is one step of two runs of a flow, side by side.
type compareRow struct {
	Step string
	// This and Prev are the step's task in each run, nil where the run
	// has no such step (yet).
	This, Prev *loom.TaskInfo
	// Delta is how much longer (or, negative, shorter) the step ran this
	// time; HasDelta says both runs have a duration.
	Delta    time.Duration
	HasDelta bool
}

type compareData struct {
	This, Prev *loom.TaskInfo
	Rows       []compareRow
	// More says the runs have more steps than the page compares.
	More bool
}

// runDuration is how long t ran, from its start to its end, if it has
// both.
func runDuration(t *loom.TaskInfo) (time.Duration, bool) {
	if t == nil || t.Started == nil || t.Ended == nil {
		return 0, false
	}
	return t.Ended.Sub(*t.Started), true
}

// compareRuns shows a flow run step by step beside the run of the same
// type before it (or the run named by ?with=).
func (u *UI) compareRuns(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	this, err := u.engine.Get(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	var prev *loom.TaskInfo
	if with := r.URL.Query().Get("with"); with != "" {
		if prev, err = u.engine.Get(ctx, with); err != nil {
			return err
		}
	} else {
		pg, err := u.engine.List(ctx, &store.ListTasksParams{Type: this.Type, TopLevel: this.ParentID == "", CreatedBefore: this.Created, Limit: 1})
		if err != nil {
			return err
		}
		if len(pg.Tasks) > 0 {
			prev = pg.Tasks[0]
		}
	}
	d := compareData{This: this, Prev: prev}
	steps := func(t *loom.TaskInfo) (map[string]*loom.TaskInfo, []string, error) {
		if t == nil {
			return nil, nil, nil
		}
		cs, err := u.engine.Children(ctx, t.ID)
		if err != nil {
			return nil, nil, err
		}
		by := make(map[string]*loom.TaskInfo, len(cs))
		var order []string
		for _, c := range cs {
			if c.Step == "" || by[c.Step] != nil {
				continue
			}
			by[c.Step] = c
			order = append(order, c.Step)
		}
		return by, order, nil
	}
	mine, order, err := steps(this)
	if err != nil {
		return err
	}
	theirs, prevOrder, err := steps(prev)
	if err != nil {
		return err
	}
	for _, s := range prevOrder {
		if mine[s] == nil {
			order = append(order, s)
		}
	}
	if len(order) > maxFlowSteps {
		order, d.More = order[:maxFlowSteps], true
	}
	for _, s := range order {
		row := compareRow{Step: s, This: mine[s], Prev: theirs[s]}
		a, okA := runDuration(row.This)
		b, okB := runDuration(row.Prev)
		if okA && okB {
			row.Delta, row.HasDelta = a-b, true
		}
		d.Rows = append(d.Rows, row)
	}
	return u.render(w, r, http.StatusOK, "compare", "", page{Title: "Compare runs", Nav: "tasks", Data: d})
}
