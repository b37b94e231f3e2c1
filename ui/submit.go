package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/internal/errtext"
)

// submitData is the submit form, blank or as the user filled it in.
type submitData struct {
	Types          []string
	Type           string
	Queue          string
	Input          string
	Priority       string
	IdempotencyKey string
	Info           string
	Error          string
}

func (u *UI) submitForm(w http.ResponseWriter, r *http.Request) error {
	d := submitData{Types: u.engine.Types(), Type: r.URL.Query().Get("type"), Input: "{}"}
	if ti, ok := u.engine.TypeInfo(d.Type); ok && ti.Flow != nil {
		if inputs := ti.Flow.Inputs(); len(inputs) > 0 {
			m := map[string]any{}
			for _, k := range inputs {
				m[k] = nil
			}
			d.Input = prettyJSON(m)
		}
	}
	return u.render(w, r, http.StatusOK, "submit", "", page{Title: "Submit", Nav: "submit", Data: d})
}

func (u *UI) submit(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return badRequest("unreadable form: %v", err)
	}
	f := r.PostForm
	d := submitData{
		Types: u.engine.Types(), Type: f.Get("type"), Queue: strings.TrimSpace(f.Get("queue")),
		Input: f.Get("input"), Priority: f.Get("priority"),
		IdempotencyKey: strings.TrimSpace(f.Get("idempotency_key")), Info: f.Get("info"),
	}
	fail := func(msg string) error {
		d.Error = msg
		return u.render(w, r, http.StatusUnprocessableEntity, "submit", "", page{Title: "Submit", Nav: "submit", Data: d})
	}
	p := &engine.SubmitParams{Type: d.Type, Queue: d.Queue, Info: d.Info, IdempotencyKey: d.IdempotencyKey}
	if d.Type == "" {
		return fail("Choose a task type.")
	}
	if s := strings.TrimSpace(d.Input); s != "" {
		in, err := parseInput(s)
		if err != nil {
			return fail(err.Error())
		}
		p.Input = in
	}
	if d.Priority != "" {
		n, err := strconv.Atoi(d.Priority)
		if err != nil {
			return fail("Priority must be a whole number.")
		}
		p.Priority = n
	}
	t, _, err := u.engine.Submit(r.Context(), p)
	if err != nil {
		return fail(errtext.Clean(err.Error()))
	}
	u.redirect(w, r, "/tasks/"+url.PathEscape(t.ID))
	return nil
}
