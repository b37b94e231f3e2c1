package ui

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/internal/jsondepth"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/taskmaster"
)

// maxLogChunks bounds how much of one attempt's log a page shows; the
// rest is a click away.
const maxLogChunks = 200

// logView is one attempt's captured output.
type logView struct {
	TaskID  string
	Attempt int
	// HTML is the output, escaped, stderr and loom's notes marked line
	// by line (see logHTML).
	HTML      template.HTML
	LastSeq   int64
	Truncated bool
	Shown     int
	Live      bool
	// Pinned is set when the user chose this attempt, so live refreshes
	// keep showing it instead of following the latest attempt.
	Pinned bool
}

type taskData struct {
	Task     *loom.TaskInfo
	Parent   *loom.TaskInfo
	Retry    *loom.TaskInfo // what the Retry button retries
	Attempts []attemptRow
	Events   []store.Event
	Log      *logView
	LogAfter int64
	Flow     *flowView
	// Input, Output and Attributes are shown bounded, with a link to
	// their raw JSON when cut short.
	Input      jsonView
	Output     jsonView
	Attributes jsonView
	// EditInput is the input for the re-run form; CanEdit is false when
	// it is too large to edit on a page.
	EditInput string
	CanEdit   bool
	Known     bool // the type is registered here, so it can be re-run
	// WaitsFor is the signal a waiting step waits for, which the page
	// offers to send (a human approval); empty otherwise.
	WaitsFor string
	// LiveURL is the page's event stream, with the fingerprint of what
	// the page shows so the stream can tell at once if it is stale.
	LiveURL string
	// ItemLogs, on a fan-out step's page, are its first items' logs, one
	// item after another; MoreItems is set when it has more, which
	// ItemsURL lists.
	ItemLogs  []itemLog
	MoreItems bool
	ItemsURL  string
}

func (u *UI) taskDetail(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	t, err := u.engine.Get(ctx, id)
	if err != nil {
		return err
	}
	evs, err := u.engine.Events(ctx, &store.ListEventsParams{TaskID: id, Limit: 1000})
	if err != nil {
		return err
	}
	d := taskData{Task: t, Events: evs, Attempts: attemptsOf(t, evs), Retry: t}
	_, d.Known = u.engine.TypeInfo(t.Type)
	if u.tm != nil {
		d.WaitsFor, _ = taskmaster.WaitingFor(t)
	}
	in := t.Input
	if in == nil {
		in = loom.Values{}
	}
	d.Input = boundedJSON(in)
	d.EditInput, d.CanEdit = editableJSON(in)
	if t.Output != nil {
		d.Output = boundedJSON(t.Output)
	}
	if len(t.Attributes) > 0 {
		d.Attributes = boundedJSON(t.Attributes)
	}

	if t.ParentID != "" {
		if d.Parent, err = u.engine.Get(ctx, t.ParentID); err != nil {
			return err
		}
		// A failed step is retried through its flow, which re-runs it
		// and whatever depends on it.
		if d.Retry, err = u.retryTarget(r, t); err != nil {
			return err
		}
	}

	info, _ := u.engine.TypeInfo(t.Type)
	sum, err := u.engine.ChildSummary(ctx, id, maxFlowSteps)
	if err != nil {
		return err
	}
	children := sum.Children
	if info.Flow != nil || len(children) > 0 {
		d.Flow = buildFlowView(u.cfg.BasePath, t, info.Flow, children, u.cfg.Now())
		d.Flow.countAll(sum)
		if err := u.countFanOuts(ctx, d.Flow, flowSteps(info.Flow)); err != nil {
			return err
		}
	}
	if fanOutStep(t) {
		d.ItemsURL = itemsURL(u.cfg.BasePath, t.ID)
		if d.ItemLogs, d.MoreItems, err = u.itemLogs(r, children, sum.Total); err != nil {
			return err
		}
	}

	attempt, pinned := t.Attempt, false
	if n, err := strconv.Atoi(r.URL.Query().Get("attempt")); err == nil && n > 0 && n <= t.Attempt {
		attempt, pinned = n, true
	}
	if d.Flow == nil && attempt > 0 {
		if d.Log, err = u.logOf(r, t, attempt); err != nil {
			return err
		}
		d.Log.Pinned = pinned
		d.LogAfter = d.Log.LastSeq
	}
	items, err := u.itemProgress(ctx, children)
	if err != nil {
		return err
	}
	live := url.Values{"task": {t.ID}, "fp": {taskFingerprint(t, children, items)}}
	if d.LogAfter > 0 {
		live.Set("logafter", strconv.FormatInt(d.LogAfter, 10))
	}
	d.LiveURL = u.cfg.BasePath + "/live?" + live.Encode()
	if r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Target") == "task-live" {
		return u.render(w, r, http.StatusOK, "task", "task-live", fragmentData(d))
	}
	title := t.Type
	if t.Step != "" {
		title = t.Step
	}
	return u.render(w, r, http.StatusOK, "task", "", page{Title: title, Nav: "tasks", Data: d})
}

// taskJSON serves one part of a task (input, output or attributes) as
// its raw JSON: what a page links to when it shows the value cut short.
func (u *UI) taskJSON(part string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		t, err := u.engine.Get(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		var v any
		switch part {
		case "input":
			v = t.Input
		case "output":
			v = t.Output
		case "attributes":
			v = t.Attributes
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
}

// retryTarget is the task a Retry on t acts on: t itself, or, for a step
// of a flow that has ended failed or cancelled, the outermost such flow.
func (u *UI) retryTarget(r *http.Request, t *loom.TaskInfo) (*loom.TaskInfo, error) {
	target := t
	for p := t; p.ParentID != ""; {
		parent, err := u.engine.Get(r.Context(), p.ParentID)
		if err != nil {
			return nil, err
		}
		if parent.Status != loom.StatusFailed && parent.Status != loom.StatusCancelled {
			break
		}
		target, p = parent, parent
	}
	return target, nil
}

func (u *UI) logOf(r *http.Request, t *loom.TaskInfo, attempt int) (*logView, error) {
	chunks, err := u.engine.Logs(r.Context(), &store.GetLogsParams{TaskID: t.ID, Attempt: attempt, Limit: maxLogChunks + 1})
	if err != nil {
		return nil, err
	}
	return logViewOf(t, attempt, chunks, maxLogChunks), nil
}

// logViewOf shows the first limit of chunks, the log of an attempt of t
// (read with a limit of one more, to know when there are more).
func logViewOf(t *loom.TaskInfo, attempt int, chunks []store.LogChunk, limit int) *logView {
	lv := &logView{TaskID: t.ID, Attempt: attempt, Live: attempt == t.Attempt && t.Status == loom.StatusRunning}
	if len(chunks) > limit {
		chunks, lv.Truncated = chunks[:limit], true
	}
	lv.Shown = len(chunks)
	var b strings.Builder
	for _, c := range chunks {
		writeLogHTML(&b, c)
		lv.LastSeq = c.Seq
	}
	lv.HTML = template.HTML(b.String()) // writeLogHTML escapes all output
	return lv
}

// logTags are the visible labels of the streams that are not stdout:
// the mark does not rest on colour alone.
var logTags = map[string]string{loom.LogStderr: "stderr", loom.LogSystem: "loom"}

// writeLogHTML writes chunk c of a log as the HTML of the log pane: its
// text escaped, line ends made "\n"; stdout as it is, every line of
// stderr or of loom's notes in a span of the stream's class headed by a
// tag naming it (set apart from the text, so that copying the log copies
// the output).
func writeLogHTML(b *strings.Builder, c store.LogChunk) {
	data := strings.ReplaceAll(c.Data, "\r\n", "\n")
	data = strings.ReplaceAll(data, "\r", "\n")
	stream := store.LogStream(c.Stream)
	tag, marked := logTags[stream]
	if !marked {
		b.WriteString(template.HTMLEscapeString(data))
		return
	}
	for line := range strings.SplitAfterSeq(data, "\n") {
		if line == "" {
			continue
		}
		fmt.Fprintf(b, `<span class="ls ls-%s"><span class="log-tag">%s</span>%s</span>`, stream, tag, template.HTMLEscapeString(line))
	}
}

// taskLog serves one attempt's log as a fragment for the log pane.
func (u *UI) taskLog(w http.ResponseWriter, r *http.Request) error {
	t, err := u.engine.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(r.URL.Query().Get("attempt"))
	if err != nil || n < 1 || n > max(t.Attempt, 1) {
		return badRequest("no attempt %q", r.URL.Query().Get("attempt"))
	}
	lv, err := u.logOf(r, t, n)
	if err != nil {
		return err
	}
	lv.Pinned = true
	return u.render(w, r, http.StatusOK, "task", "log-pane", fragmentData(lv))
}

func (u *UI) cancelTask(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := u.engine.Cancel(r.Context(), id, "cancelled from the web UI"); err != nil {
		return err
	}
	u.redirect(w, r, "/tasks/"+url.PathEscape(id))
	return nil
}

// retryTask retries the task (or, for a step, its failed flow) with an
// optional edited input, and returns to the page the user came from.
func (u *UI) retryTask(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	t, err := u.engine.Get(r.Context(), id)
	if err != nil {
		return err
	}
	target, err := u.retryTarget(r, t)
	if err != nil {
		return err
	}
	var input loom.Values
	if target == t {
		if input, err = formInput(r, false); err != nil {
			return err
		}
	}
	if _, err := u.engine.Retry(r.Context(), target.ID, input); err != nil {
		return err
	}
	u.redirect(w, r, "/tasks/"+url.PathEscape(id))
	return nil
}

// signalTask sends a waiting task the signal it waits for, with optional
// JSON data: an approval given from the task's page.
func (u *UI) signalTask(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := r.ParseForm(); err != nil {
		return badRequest("unreadable form: %v", err)
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if name == "" {
		return badRequest("a signal needs a name")
	}
	var data loom.Values
	if s := strings.TrimSpace(r.PostForm.Get("data")); s != "" {
		var err error
		if data, err = parseInput(s); err != nil {
			return err
		}
	}
	if _, err := u.tm.Signal(r.Context(), id, name, data); err != nil {
		return err
	}
	u.redirect(w, r, "/tasks/"+url.PathEscape(id))
	return nil
}

// rerunTask submits a new task of the same type with the (edited) input.
func (u *UI) rerunTask(w http.ResponseWriter, r *http.Request) error {
	t, err := u.engine.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	input, err := formInput(r, true)
	if err != nil {
		return err
	}
	nt, _, err := u.engine.Submit(r.Context(), &engine.SubmitParams{
		Type: t.Type, Input: input, Queue: t.Queue, Info: t.Info,
		Attributes: t.Attributes, Priority: t.Priority,
	})
	if err != nil {
		return err
	}
	u.redirect(w, r, "/tasks/"+url.PathEscape(nt.ID))
	return nil
}

// formInput reads the "input" form field as a JSON object. Empty means
// none (nil), unless required.
func formInput(r *http.Request, required bool) (loom.Values, error) {
	if err := r.ParseForm(); err != nil {
		return nil, badRequest("unreadable form: %v", err)
	}
	s := strings.TrimSpace(r.PostForm.Get("input"))
	if s == "" {
		if required {
			return loom.Values{}, nil
		}
		return nil, nil
	}
	return parseInput(s)
}

func parseInput(s string) (loom.Values, error) {
	if err := jsondepth.Check([]byte(s), jsondepth.Max); err != nil {
		return nil, badRequest("the input %v", strings.TrimPrefix(err.Error(), "JSON "))
	}
	var v loom.Values
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, badRequest("the input is not a JSON object: %v", err)
	}
	if dec.More() {
		return nil, badRequest("the input has data after its JSON object")
	}
	if v == nil {
		v = loom.Values{}
	}
	return v, nil
}
