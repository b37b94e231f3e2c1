package ui

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// taskFilter is the task list's query string, parsed.
type taskFilter struct {
	Status string
	Type   string
	Queue  string
	Range  string
	Text   string
	// Key keeps tasks whose idempotency key starts with it: a schedule's
	// runs, linked from its page.
	Key string
	// Parent keeps the steps of one flow: its full list, linked from a
	// flow's page, which shows only the first maxFlowSteps.
	Parent string
	Steps  bool
	Limit  int
	Cursor string
}

// taskRanges are the time ranges the list offers, by query value.
var taskRanges = []struct {
	Value, Label string
	D            time.Duration
}{
	{"", "Any time", 0},
	{"15m", "Last 15 minutes", 15 * time.Minute},
	{"1h", "Last hour", time.Hour},
	{"24h", "Last 24 hours", 24 * time.Hour},
	{"7d", "Last 7 days", 7 * 24 * time.Hour},
}

// taskStatuses are the statuses the list filters by.
var taskStatuses = []loom.Status{
	loom.StatusPending, loom.StatusRunning, loom.StatusCompleted,
	loom.StatusFailed, loom.StatusCancelled, loom.StatusSkipped,
}

func parseTaskFilter(q url.Values) taskFilter {
	f := taskFilter{
		Status: q.Get("status"),
		Type:   q.Get("type"),
		Queue:  q.Get("queue"),
		Range:  q.Get("range"),
		Text:   q.Get("q"),
		Key:    q.Get("key"),
		Parent: q.Get("parent"),
		Steps:  q.Get("steps") == "1",
		Cursor: q.Get("cursor"),
		Limit:  50,
	}
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > 0 && n <= 500 {
		f.Limit = n
	}
	return f
}

// query is the filter as a query string, without the cursor unless
// withCursor: the first page's URL, which live updates refresh.
func (f taskFilter) query(withCursor bool) string {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("status", f.Status)
	set("type", f.Type)
	set("queue", f.Queue)
	set("range", f.Range)
	set("q", f.Text)
	set("key", f.Key)
	set("parent", f.Parent)
	if f.Steps {
		q.Set("steps", "1")
	}
	if f.Limit != 50 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if withCursor {
		set("cursor", f.Cursor)
	}
	return q.Encode()
}

func (f taskFilter) params(now time.Time) (*store.ListTasksParams, error) {
	p := &store.ListTasksParams{
		Type: f.Type, Queue: f.Queue, Text: f.Text, KeyPrefix: f.Key, ParentID: f.Parent, TopLevel: !f.Steps && f.Parent == "",
		Limit: f.Limit, Cursor: f.Cursor,
	}
	if f.Status != "" {
		s := loom.Status(f.Status)
		if !s.Valid() {
			return nil, badRequest("unknown status %q", f.Status)
		}
		p.Status = []loom.Status{s}
	}
	if f.Range != "" {
		ok := false
		for _, r := range taskRanges {
			if r.Value == f.Range && r.D > 0 {
				p.CreatedAfter, ok = now.Add(-r.D), true
			}
		}
		if !ok {
			return nil, badRequest("unknown time range %q", f.Range)
		}
	}
	return p, nil
}

type taskListData struct {
	Filter taskFilter
	Tasks  []*loom.TaskInfo
	// Next and FirstPage are query strings built by url.Values.Encode,
	// so every user value in them is already escaped.
	Next      template.URL // the next page; empty on the last
	FirstPage template.URL
	IsFirst   bool
	Statuses  []loom.Status
	Ranges    any
	Types     []string
	Queues    []string
	// Bulk is the action the list offers on every task its filter
	// matches ("retry", "cancel" or none), and BulkLink its confirmation.
	Bulk     string
	BulkLink template.URL
}

// Progressing reports whether a task of the page runs and reports its
// progress: the list then refreshes every few seconds too, since progress
// appends no event that would refresh it.
func (d taskListData) Progressing() bool {
	for _, t := range d.Tasks {
		if t.Status == loom.StatusRunning && t.Progress != nil {
			return true
		}
	}
	return false
}

func (u *UI) taskList(w http.ResponseWriter, r *http.Request) error {
	f := parseTaskFilter(r.URL.Query())
	p, err := f.params(u.cfg.Now())
	if err != nil {
		return err
	}
	pg, err := u.engine.List(r.Context(), p)
	if err != nil {
		if f.Cursor != "" {
			return badRequest("this page's cursor is no longer valid; start from the first page")
		}
		return err
	}
	d := taskListData{
		Filter: f, Tasks: pg.Tasks, Statuses: taskStatuses, Ranges: taskRanges,
		FirstPage: template.URL(f.query(false)), IsFirst: f.Cursor == "",
		Types: u.engine.Types(),
		Bulk:  f.bulkAction(),
	}
	if d.Bulk != "" {
		d.BulkLink = bulkLink(f)
	}
	if pg.Next != "" {
		nf := f
		nf.Cursor = pg.Next
		d.Next = template.URL(nf.query(true))
	}
	if r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Target") == "task-table" {
		return u.render(w, r, http.StatusOK, "tasks", "task-table", fragmentData(d))
	}
	return u.render(w, r, http.StatusOK, "tasks", "", page{Title: "Tasks", Nav: "tasks", Data: d})
}

// fragmentData wraps data for a fragment, which needs Base like a full page.
func fragmentData(d any) page { return page{Data: d} }
