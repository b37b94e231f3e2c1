package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
)

// submitRequest is the body of POST /tasks: the writable subset of the task
// object. Everything else (id, status, times, attempts) the engine sets.
type submitRequest struct {
	Type        string         `json:"type"`
	Queue       string         `json:"queue"`
	Info        string         `json:"info"`
	Attributes  map[string]any `json:"attributes"`
	Input       loom.Values    `json:"input"`
	Priority    int            `json:"priority"`
	MaxAttempts int            `json:"max_attempts"`
	// Timeout is when the task expires: an RFC 3339 time, or a Go
	// duration ("30m", "6h") counted from now.
	Timeout        string     `json:"timeout"`
	RunAt          *time.Time `json:"run_at"`
	IdempotencyKey string     `json:"idempotency_key"`
	// Retry is how long the task's retries wait (see loom.TaskRetry).
	Retry *retryPolicyRequest `json:"retry"`
}

// retryPolicyRequest is the "retry" object of a submit: loom.TaskRetry
// with its durations as the client wrote them, so that a bad one is
// answered naming its field.
type retryPolicyRequest struct {
	InitialDelay  string  `json:"initial_delay"`
	BackoffFactor float64 `json:"backoff_factor"`
	MaxDelay      string  `json:"max_delay"`
	Jitter        float64 `json:"jitter"`
}

// policy checks the request's retry policy, naming the field at fault.
func (r *retryPolicyRequest) policy() (*loom.TaskRetry, error) {
	duration := func(field, s string) (time.Duration, error) {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, errorf(errUnprocessable, `field "retry.%s": %q is not a duration like "2s" or "5m"`, field, s)
		}
		if d < 0 {
			return 0, errorf(errUnprocessable, `field "retry.%s": %s is negative`, field, s)
		}
		return d, nil
	}
	if strings.TrimSpace(r.InitialDelay) == "" {
		return nil, errorf(errUnprocessable, `field "retry.initial_delay" is required: the wait before the second attempt, like "2s"`)
	}
	initial, err := duration("initial_delay", r.InitialDelay)
	if err != nil {
		return nil, err
	}
	var maxDelay time.Duration
	if r.MaxDelay != "" {
		if maxDelay, err = duration("max_delay", r.MaxDelay); err != nil {
			return nil, err
		}
		if maxDelay < initial {
			return nil, errorf(errUnprocessable, `field "retry.max_delay": %s is shorter than initial_delay %s`, maxDelay, initial)
		}
	}
	if f := r.BackoffFactor; f != 0 && f < 1 {
		return nil, errorf(errUnprocessable, `field "retry.backoff_factor": %g is below 1 (1 or 0 means fixed delays, 2 doubles them)`, f)
	}
	if j := r.Jitter; j < 0 || j > 1 {
		return nil, errorf(errUnprocessable, `field "retry.jitter": %g is not between 0 and 1 (0.2 spreads each delay by ±20%%)`, j)
	}
	return &loom.TaskRetry{InitialDelay: loom.Duration(initial), BackoffFactor: r.BackoffFactor,
		MaxDelay: loom.Duration(maxDelay), Jitter: r.Jitter}, nil
}

// params checks the request and turns it into the engine's parameters.
func (req *submitRequest) params(now time.Time) (*engine.SubmitParams, error) {
	if strings.TrimSpace(req.Type) == "" {
		return nil, errorf(errUnprocessable, `field "type" is required`)
	}
	if req.MaxAttempts < 0 || req.MaxAttempts > engine.MaxAttemptsLimit {
		return nil, errorf(errUnprocessable, `field "max_attempts": %d is not between 0 and %d`, req.MaxAttempts, engine.MaxAttemptsLimit)
	}
	if req.Priority < engine.MinPriority || req.Priority > engine.MaxPriority {
		return nil, errorf(errUnprocessable, `field "priority": %d is not between %d and %d`, req.Priority, engine.MinPriority, engine.MaxPriority)
	}
	if req.RunAt != nil {
		if err := checkTimeRange("run_at", *req.RunAt); err != nil {
			return nil, err
		}
	}
	p := &engine.SubmitParams{
		Type:           req.Type,
		Input:          req.Input,
		Queue:          req.Queue,
		Info:           req.Info,
		Attributes:     req.Attributes,
		Priority:       req.Priority,
		IdempotencyKey: req.IdempotencyKey,
		MaxAttempts:    req.MaxAttempts,
	}
	if req.RunAt != nil {
		p.RunAt = *req.RunAt
	}
	if req.Retry != nil {
		r, err := req.Retry.policy()
		if err != nil {
			return nil, err
		}
		p.Retry = r
	}
	if req.Timeout != "" {
		d, err := parseTimeout(req.Timeout, now)
		if err != nil {
			return nil, err
		}
		p.Timeout = d
	}
	return p, nil
}

// checkTimeRange refuses a time a store cannot keep, naming its field.
func checkTimeRange(field string, t time.Time) error {
	if !store.InTimeRange(t) {
		return errorf(errUnprocessable, "field %q: %s is not between %s and %s", field,
			t.Format(time.RFC3339), store.MinTime.Format(time.RFC3339), store.MaxTime.Format(time.RFC3339))
	}
	return nil
}

// parseTimeout reads a task timeout given as an expiry time (RFC 3339) or
// as a duration from now, and returns it as a duration from now.
// The expiry must be in the future and no later than store.MaxTime.
func parseTimeout(s string, now time.Time) (time.Duration, error) {
	var d time.Duration
	if at, err := time.Parse(time.RFC3339Nano, s); err == nil {
		if at.After(store.MaxTime) {
			return 0, errorf(errUnprocessable, `field "timeout": %q is after %s`, s, store.MaxTime.Format(time.RFC3339))
		}
		d = at.Sub(now)
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, errorf(errMalformed, `field "timeout": %q is neither an RFC 3339 time nor a duration like "30m"`, s)
	}
	if d <= 0 {
		return 0, errorf(errUnprocessable, `field "timeout": %q is not in the future`, s)
	}
	if d > store.MaxTime.Sub(now) {
		return 0, errorf(errUnprocessable, `field "timeout": %q expires after %s`, s, store.MaxTime.Format(time.RFC3339))
	}
	return d, nil
}

func (s *Server) submitTask(w http.ResponseWriter, r *http.Request) error {
	var req submitRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	p, err := req.params(time.Now())
	if err != nil {
		return err
	}
	task, created, err := s.engine.Submit(r.Context(), p)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", APIPrefix+"/tasks/"+task.ID)
	}
	writeJSON(w, status, task)
	return nil
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request) error {
	task, err := s.engine.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, task)
	return nil
}

// taskList is the answer of GET /tasks and GET /tasks/{id}/children.
type taskList struct {
	Tasks []*loom.TaskInfo `json:"tasks"`
	// Next is the cursor of the following page; absent on the last one.
	Next string `json:"next,omitempty"`
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	p := &store.ListTasksParams{
		Type:     q.Get("type"),
		Queue:    q.Get("queue"),
		ParentID: q.Get("parent_id"),
		Text:     q.Get("q"),
		Cursor:   q.Get("cursor"),
	}
	for _, v := range q["status"] {
		for st := range strings.SplitSeq(v, ",") {
			st = strings.TrimSpace(st)
			if st == "" {
				continue
			}
			if !loom.Status(st).Valid() {
				return errorf(errMalformed, "query parameter \"status\": unknown status %q", st)
			}
			p.Status = append(p.Status, loom.Status(st))
		}
	}
	limit, err := queryInt(r, "limit", 0)
	if err != nil {
		return err
	}
	if limit > 1000 {
		return errorf(errMalformed, `query parameter "limit": at most 1000`)
	}
	p.Limit = int(limit)
	page, err := s.engine.List(r.Context(), p)
	if err != nil {
		return err
	}
	out := taskList{Tasks: page.Tasks, Next: page.Next}
	if out.Tasks == nil {
		out.Tasks = []*loom.TaskInfo{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// cancelRequest is the optional body of POST /tasks/{id}/cancel.
type cancelRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) cancelTask(w http.ResponseWriter, r *http.Request) error {
	var req cancelRequest
	if err := s.decodeBody(w, r, &req, true); err != nil {
		return err
	}
	if req.Reason == "" {
		req.Reason = "cancelled through the API"
	}
	task, err := s.engine.Cancel(r.Context(), r.PathValue("id"), req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, task)
	return nil
}

// retryRequest is the optional body of POST /tasks/{id}/retry.
type retryRequest struct {
	// Input, when present, replaces the task's input.
	Input loom.Values `json:"input"`
}

func (s *Server) retryTask(w http.ResponseWriter, r *http.Request) error {
	var req retryRequest
	if err := s.decodeBody(w, r, &req, true); err != nil {
		return err
	}
	task, err := s.engine.Retry(r.Context(), r.PathValue("id"), req.Input)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, task)
	return nil
}

// logList is the answer of GET /tasks/{id}/logs.
type logList struct {
	Logs []store.LogChunk `json:"logs"`
}

func (s *Server) taskLogs(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	attempt, err := queryInt(r, "attempt", 0)
	if err != nil {
		return err
	}
	after, err := queryInt(r, "after", 0)
	if err != nil {
		return err
	}
	// An unknown task is 404, not an empty log.
	if _, err := s.engine.Get(r.Context(), id); err != nil {
		return err
	}
	chunks, err := s.engine.Logs(r.Context(), &store.GetLogsParams{TaskID: id, Attempt: int(attempt), AfterSeq: after})
	if err != nil {
		return err
	}
	if chunks == nil {
		chunks = []store.LogChunk{}
	}
	writeJSON(w, http.StatusOK, logList{Logs: chunks})
	return nil
}

// eventList is the answer of GET /tasks/{id}/events.
type eventList struct {
	Events []store.Event `json:"events"`
}

func (s *Server) taskEvents(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	after, err := queryInt(r, "after", 0)
	if err != nil {
		return err
	}
	if _, err := s.engine.Get(r.Context(), id); err != nil {
		return err
	}
	evs, err := s.engine.Events(r.Context(), &store.ListEventsParams{TaskID: id, AfterSeq: after})
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []store.Event{}
	}
	writeJSON(w, http.StatusOK, eventList{Events: evs})
	return nil
}

func (s *Server) taskChildren(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.engine.Get(r.Context(), id); err != nil {
		return err
	}
	cs, err := s.engine.Children(r.Context(), id)
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []*loom.TaskInfo{}
	}
	writeJSON(w, http.StatusOK, taskList{Tasks: cs})
	return nil
}
