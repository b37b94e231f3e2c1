package ui

import (
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
)

// queueRow is one queue with its rates, as the queues page lists it.
type queueRow struct {
	store.QueueInfo
	// RatePerMin is tasks completed per minute over the rate window.
	RatePerMin float64
	// LatencyP50 and LatencyP95 are run times of recently completed tasks.
	LatencyP50, LatencyP95 time.Duration
	Sampled                int
}

// rateWindow is the span the queues page's rates cover.
const rateWindow = 15 * time.Minute

// latencyWindow is how far back the queues page looks for a queue's
// completed tasks to sample run times from. Without a bound, finding a
// queue's last completed tasks walks every task newest first when the
// queue has few of them (a full scan of a large store); bounded, it walks
// at most the tasks created in the window.
const latencyWindow = time.Hour

func (u *UI) queues(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	qs, err := u.engine.Queues(ctx)
	if err != nil {
		return err
	}
	now := u.cfg.Now()
	rows := make([]queueRow, 0, len(qs))
	for _, q := range qs {
		row := queueRow{QueueInfo: q}
		st, err := u.engine.Stats(ctx, &engine.StatsParams{Since: now.Add(-rateWindow), Bucket: rateWindow, Queue: q.Name, Limit: 2000})
		if err != nil {
			return err
		}
		done := 0
		for _, b := range st.Buckets {
			done += b.Completed
		}
		row.RatePerMin = float64(done) / rateWindow.Minutes()
		recent, err := u.engine.List(ctx, &store.ListTasksParams{
			Queue: q.Name, Status: []loom.Status{loom.StatusCompleted}, CreatedAfter: now.Add(-latencyWindow), Limit: 200,
		})
		if err != nil {
			return err
		}
		var ds []time.Duration
		for _, t := range recent.Tasks {
			if t.Started != nil && t.Ended != nil {
				ds = append(ds, t.Ended.Sub(*t.Started))
			}
		}
		if len(ds) > 0 {
			slices.Sort(ds)
			row.LatencyP50 = ds[len(ds)/2]
			row.LatencyP95 = ds[min(len(ds)*95/100, len(ds)-1)]
			row.Sampled = len(ds)
		}
		rows = append(rows, row)
	}
	return u.render(w, r, http.StatusOK, "queues", "", page{Title: "Queues", Nav: "queues", Data: rows})
}

// workerRow is one worker with the tasks it runs now.
type workerRow struct {
	store.WorkerInfo
	Alive   bool
	Running []*loom.TaskInfo
}

func (u *UI) workers(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	now := u.cfg.Now()
	ws, err := u.engine.Workers(ctx, now.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	running, err := u.engine.List(ctx, &store.ListTasksParams{Status: []loom.Status{loom.StatusRunning}, Limit: 1000})
	if err != nil {
		return err
	}
	byWorker := map[string][]*loom.TaskInfo{}
	for _, t := range running.Tasks {
		byWorker[t.WorkerID] = append(byWorker[t.WorkerID], t)
	}
	rows := make([]workerRow, 0, len(ws))
	for _, wk := range ws {
		rows = append(rows, workerRow{
			WorkerInfo: wk,
			Alive:      now.Sub(wk.LastHeartbeat) <= u.engine.WorkerTimeout(),
			Running:    byWorker[wk.ID],
		})
	}
	slices.SortFunc(rows, func(a, b workerRow) int { return b.LastHeartbeat.Compare(a.LastHeartbeat) })
	return u.render(w, r, http.StatusOK, "workers", "", page{Title: "Workers", Nav: "workers", Data: rows})
}

// typeRow is one registered task type.
type typeRow struct {
	Name  string
	Queue string
	Flow  bool
	Steps int
	// MaxAttempts is 0 for a type whose attempts have no limit.
	MaxAttempts int
	// StepOf names the flows that run this type as a step; such a type is
	// not offered for submitting on its own when it is named after its
	// flow ("etl/extract").
	StepOf []string
	// StepOnly says the type exists only as a step of StepOf's flow.
	StepOnly    bool
	Timeout     time.Duration
	Breaker     string
	BreakerOpen bool
}

func typeRowOf(ti engine.TypeInfo) typeRow {
	row := typeRow{Name: ti.Name, Queue: ti.Queue, Flow: ti.Flow != nil, MaxAttempts: 1}
	if t := ti.Task; t != nil {
		if t.Retry != nil && t.Retry.MaxAttempts > 1 {
			row.MaxAttempts = t.Retry.MaxAttempts
			if row.MaxAttempts >= math.MaxInt32 {
				row.MaxAttempts = 0 // no limit
			}
		}
		row.Timeout = t.Timeout
		if t.Breaker != nil {
			row.Breaker = string(t.Breaker.State())
			row.BreakerOpen = t.Breaker.State() != loom.BreakerClosed
		}
	}
	if ti.Flow != nil {
		row.Steps = len(ti.Flow.Steps())
	}
	return row
}

// stepOwners maps each type that flows run as a step to those flows.
func stepOwners(infos []engine.TypeInfo) map[string][]string {
	owners := map[string][]string{}
	for _, ti := range infos {
		if ti.Flow == nil {
			continue
		}
		for _, st := range ti.Flow.Steps() {
			if !slices.Contains(owners[st.Task], ti.Name) {
				owners[st.Task] = append(owners[st.Task], ti.Name)
			}
		}
	}
	return owners
}

// withOwners sets the flows that run row's type as a step.
func (row typeRow) withOwners(owners map[string][]string) typeRow {
	row.StepOf = owners[row.Name]
	row.StepOnly = len(row.StepOf) == 1 && strings.HasPrefix(row.Name, row.StepOf[0]+"/")
	return row
}

func (u *UI) types(w http.ResponseWriter, r *http.Request) error {
	infos := u.engine.TypeInfos()
	owners := stepOwners(infos)
	var rows []typeRow
	for _, ti := range infos {
		rows = append(rows, typeRowOf(ti).withOwners(owners))
	}
	return u.render(w, r, http.StatusOK, "types", "", page{Title: "Task types", Nav: "types", Data: rows})
}

type typeDetailData struct {
	Type   typeRow
	Steps  []loom.StepInfo
	Inputs []string
	Graph  graphData
	Recent []*loom.TaskInfo
	// Stats measure the latest statsRuns runs.
	Stats *runStats
}

func (u *UI) typeDetail(w http.ResponseWriter, r *http.Request) error {
	ti, ok := u.engine.TypeInfo(r.PathValue("name"))
	if !ok {
		return errNotFound
	}
	d := typeDetailData{Type: typeRowOf(ti).withOwners(stepOwners(u.engine.TypeInfos()))}
	d.Steps = flowSteps(ti.Flow)
	if ti.Flow != nil {
		d.Inputs = ti.Flow.Inputs()
	}
	d.Graph = defGraph(d.Steps)
	recent, err := u.engine.List(r.Context(), &store.ListTasksParams{Type: ti.Name, Limit: statsRuns})
	if err != nil {
		return err
	}
	d.Stats = statsOf(u.cfg.BasePath, recent.Tasks)
	d.Recent = recent.Tasks[:min(len(recent.Tasks), 10)]
	return u.render(w, r, http.StatusOK, "type", "", page{Title: ti.Name, Nav: "types", Data: d})
}
