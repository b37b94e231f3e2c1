package ui

import (
	"html/template"
	"net/http"
	"net/url"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
)

// bulkAction is what the task list offers to do to every task its filter
// matches: "retry" for failed or cancelled tasks, "cancel" for pending or
// running ones, "" when the filter is not one a bulk action takes (a text
// search, a schedule's runs, flow steps, no status).
func (f taskFilter) bulkAction() string {
	if f.Text != "" || f.Key != "" || f.Parent != "" || f.Steps {
		return ""
	}
	switch loom.Status(f.Status) {
	case loom.StatusFailed, loom.StatusCancelled:
		return "retry"
	case loom.StatusPending, loom.StatusRunning:
		return "cancel"
	}
	return ""
}

// bulkParams are the engine's parameters for the filter's bulk action.
func (u *UI) bulkParams(f taskFilter) (*engine.BulkParams, error) {
	p, err := f.params(u.cfg.Now())
	if err != nil {
		return nil, err
	}
	return &engine.BulkParams{Status: p.Status, Type: p.Type, Queue: p.Queue, CreatedAfter: p.CreatedAfter, Reason: "cancelled in bulk from the web UI"}, nil
}

// run applies the action.
func (u *UI) runBulk(r *http.Request, action string, p *engine.BulkParams) (*engine.BulkResult, error) {
	if action == "retry" {
		return u.engine.BulkRetry(r.Context(), p)
	}
	return u.engine.BulkCancel(r.Context(), p)
}

type bulkData struct {
	Action string
	Filter taskFilter
	// Query is the filter's query string, for the hidden fields' form
	// and the way back to the list.
	Query  template.URL
	Result *engine.BulkResult
	Limit  int
}

// bulkConfirm shows how many tasks the action would touch and asks
// before doing it.
func (u *UI) bulkConfirm(w http.ResponseWriter, r *http.Request) error {
	f := parseTaskFilter(r.URL.Query())
	action := f.bulkAction()
	if action == "" || r.URL.Query().Get("action") != action {
		return badRequest("a bulk action needs a status filter: retry takes failed or cancelled tasks, cancel pending or running ones, without a text, key or step filter")
	}
	p, err := u.bulkParams(f)
	if err != nil {
		return err
	}
	p.DryRun = true
	res, err := u.runBulk(r, action, p)
	if err != nil {
		return err
	}
	d := bulkData{Action: action, Filter: f, Query: template.URL(f.query(false)), Result: res, Limit: engine.DefaultBulkLimit}
	return u.render(w, r, http.StatusOK, "bulk", "", page{Title: "Confirm " + action, Nav: "tasks", Data: d})
}

// bulkRun does the confirmed action and returns to the list.
func (u *UI) bulkRun(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return badRequest("the form does not parse: %v", err)
	}
	f := parseTaskFilter(r.PostForm)
	action := f.bulkAction()
	if action == "" || r.PostForm.Get("action") != action {
		return badRequest("this filter takes no bulk %s", r.PostForm.Get("action"))
	}
	p, err := u.bulkParams(f)
	if err != nil {
		return err
	}
	if _, err := u.runBulk(r, action, p); err != nil {
		return err
	}
	u.redirect(w, r, "/tasks?"+f.query(false))
	return nil
}

// bulkLink is the confirmation page's URL for the list's filter.
func bulkLink(f taskFilter) template.URL {
	q, _ := url.ParseQuery(f.query(false))
	q.Set("action", f.bulkAction())
	return template.URL(q.Encode())
}
