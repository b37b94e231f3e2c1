package ui

import (
	"net/http"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
)

// statusCounts are task counts by status, summed over queues.
type statusCounts struct {
	Pending, Running, Completed, Failed, Cancelled, Total int
}

func countQueues(qs []store.QueueInfo) statusCounts {
	var c statusCounts
	for _, q := range qs {
		c.Pending += q.Pending
		c.Running += q.Running
		c.Completed += q.Completed
		c.Failed += q.Failed
		c.Cancelled += q.Cancelled
	}
	c.Total = c.Pending + c.Running + c.Completed + c.Failed + c.Cancelled
	return c
}

// chartData is the overview chart's series in uPlot's column layout:
// times in Unix seconds, then one count per bucket for each series.
type chartData struct {
	T         []int64 `json:"t"`
	Created   []int   `json:"created"`
	Completed []int   `json:"completed"`
	Failed    []int   `json:"failed"`
	Cancelled []int   `json:"cancelled"`
}

type breakerRow struct {
	Name  string
	Type  string
	State loom.BreakerState
}

type overviewData struct {
	Counts       statusCounts
	WorkersAlive int
	Throughput   float64 // completed per minute over the window
	FailureRate  float64 // percent of ended tasks that failed in the window
	Completed    int
	Failed       int
	Window       string
	Truncated    bool
	Queues       []store.QueueInfo
	Breakers     []breakerRow
	OpenBreakers int
	Failures     []*loom.TaskInfo
	Chart        chartData
	// Taskmaster counts, shown when the UI has a taskmaster.
	OpenAlerts, LateSchedules, LateChecks int
}

// overviewWindow is the span the overview's chart and rates cover.
const overviewWindow = time.Hour

func (u *UI) overview(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	now := u.cfg.Now()
	d := overviewData{Window: "last hour"}
	qs, err := u.engine.Queues(ctx)
	if err != nil {
		return err
	}
	d.Queues, d.Counts = qs, countQueues(qs)

	ws, err := u.engine.Workers(ctx, now.Add(-u.engine.WorkerTimeout()))
	if err != nil {
		return err
	}
	d.WorkersAlive = len(ws)

	st, err := u.engine.Stats(ctx, &engine.StatsParams{Since: now.Add(-overviewWindow), Bucket: time.Minute})
	if err != nil {
		return err
	}
	d.Truncated = st.Truncated
	for _, b := range st.Buckets {
		d.Chart.T = append(d.Chart.T, b.Start.Unix())
		d.Chart.Created = append(d.Chart.Created, b.Created)
		d.Chart.Completed = append(d.Chart.Completed, b.Completed)
		d.Chart.Failed = append(d.Chart.Failed, b.Failed)
		d.Chart.Cancelled = append(d.Chart.Cancelled, b.Cancelled)
		d.Completed += b.Completed
		d.Failed += b.Failed
	}
	d.Throughput = float64(d.Completed) / overviewWindow.Minutes()
	d.FailureRate = ratio(d.Failed, d.Completed+d.Failed)

	for _, ti := range u.engine.TypeInfos() {
		if ti.Task == nil || ti.Task.Breaker == nil {
			continue
		}
		b := ti.Task.Breaker
		row := breakerRow{Name: b.Name(), Type: ti.Name, State: b.State()}
		if row.State != loom.BreakerClosed {
			d.OpenBreakers++
		}
		d.Breakers = append(d.Breakers, row)
	}

	fails, err := u.engine.List(ctx, &store.ListTasksParams{Status: []loom.Status{loom.StatusFailed}, Limit: 10})
	if err != nil {
		return err
	}
	d.Failures = fails.Tasks

	if u.tm != nil {
		open, err := u.openAlerts(ctx)
		if err != nil {
			return err
		}
		d.OpenAlerts = len(open)
		if _, d.LateSchedules, err = u.scheduleRows(ctx, open); err != nil {
			return err
		}
		if _, d.LateChecks, err = u.checkRows(ctx, open); err != nil {
			return err
		}
	}
	return u.render(w, r, http.StatusOK, "overview", "", page{Title: "Overview", Nav: "overview", Data: d})
}
