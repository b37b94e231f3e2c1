package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/auth"
	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
)

// The HTTP worker protocol (docs/worker-protocol.md): a worker in any
// language claims tasks of the queues loom server --http-queue names,
// runs them, and calls back with the lease token of each claimed task.
// A call whose token names an attempt the worker no longer holds is
// answered 409 with code "conflict".

// workerRoutes are the routes of the HTTP worker protocol, for tokens of
// role worker (or admin).
func (s *Server) workerRoutes() []route {
	return []route{
		{http.MethodPost, "/workers/claim", auth.Worker, s.claimTasks},
		{http.MethodPost, "/workers/tasks/{id}/heartbeat", auth.Worker, s.heartbeatTask},
		{http.MethodPost, "/workers/tasks/{id}/logs", auth.Worker, s.appendTaskLog},
		{http.MethodPost, "/workers/tasks/{id}/progress", auth.Worker, s.reportTaskProgress},
		{http.MethodPost, "/workers/tasks/{id}/complete", auth.Worker, s.completeTask},
		{http.MethodPost, "/workers/tasks/{id}/fail", auth.Worker, s.failTask},
	}
}

// claimRequest is the body of POST /workers/claim.
type claimRequest struct {
	// WorkerID names the worker, the same in every claim while it runs.
	WorkerID string `json:"worker_id"`
	// Hostname is shown in the worker list.
	Hostname string   `json:"hostname"`
	Queues   []string `json:"queues"`
	// Max is the most tasks to return (default 1).
	Max int `json:"max"`
	// WaitMS is how long to wait for a task when none is ready, at most
	// a minute; default 0, answer at once.
	WaitMS int64 `json:"wait_ms"`
}

// claimAnswer is the answer of POST /workers/claim.
type claimAnswer struct {
	// Tasks are ready task objects (docs/schema/task-message.schema.json,
	// $defs/ready) whose lease is the token of later calls.
	Tasks []bus.Message `json:"tasks"`
	// LeaseMS is how long each lease lasts without a heartbeat.
	LeaseMS int64 `json:"lease_ms"`
}

func (s *Server) claimTasks(w http.ResponseWriter, r *http.Request) error {
	var req claimRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if req.WaitMS < 0 || req.WaitMS > engine.DefaultMaxClaimWait.Milliseconds() {
		return errorf(errUnprocessable, `field "wait_ms": %d is not between 0 and %d`, req.WaitMS, engine.DefaultMaxClaimWait.Milliseconds())
	}
	tasks, err := s.engine.Claim(r.Context(), &engine.ClaimParams{
		WorkerID: req.WorkerID, Hostname: req.Hostname, Queues: req.Queues, Max: req.Max,
		Wait: time.Duration(req.WaitMS) * time.Millisecond, Stop: s.stopWaits,
	})
	if err != nil {
		return err
	}
	answer := claimAnswer{Tasks: make([]bus.Message, 0, len(tasks)), LeaseMS: s.engine.LeaseDuration().Milliseconds()}
	for _, t := range tasks {
		m, err := engine.ReadyMessage(t, s.leases.sign(workerLease{Lease: leaseOf(t), WorkerID: req.WorkerID}))
		if err != nil {
			return err
		}
		answer.Tasks = append(answer.Tasks, m)
	}
	writeJSON(w, http.StatusOK, answer)
	return nil
}

// leaseOf names the attempt t was claimed in.
func leaseOf(t *loom.TaskInfo) store.Lease {
	return store.Lease{ID: t.ID, Attempt: t.Attempt}
}

// lease reads the lease token of a call about task {id}.
func (s *Server) lease(r *http.Request, token string) (workerLease, error) {
	if token == "" {
		return workerLease{}, errorf(errMalformed, `field "lease" is required: the lease of the claimed task`)
	}
	l, err := s.leases.parse(token)
	if err != nil {
		return workerLease{}, err
	}
	if id := r.PathValue("id"); id != l.ID {
		return workerLease{}, errorf(errMalformed, "the lease is for task %s, not %s", l.ID, id)
	}
	return l, nil
}

// heartbeatRequest is the body of POST /workers/tasks/{id}/heartbeat.
type heartbeatRequest struct {
	Lease string `json:"lease"`
}

// heartbeatAnswer is the answer of a heartbeat: the attempt's lease now
// lasts until LeaseUntil.
type heartbeatAnswer struct {
	ID         string    `json:"id"`
	Attempt    int       `json:"attempt"`
	LeaseUntil time.Time `json:"lease_until"`
}

func (s *Server) heartbeatTask(w http.ResponseWriter, r *http.Request) error {
	var req heartbeatRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	l, err := s.lease(r, req.Lease)
	if err != nil {
		return err
	}
	until, err := s.engine.Heartbeat(r.Context(), l.WorkerID, l.Lease)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, heartbeatAnswer{ID: l.ID, Attempt: l.Attempt, LeaseUntil: until})
	return nil
}

// logRequest is the body of POST /workers/tasks/{id}/logs: output of the
// attempt, appended to its log as it is.
type logRequest struct {
	Lease string `json:"lease"`
	// Stream is stdout (when empty), stderr or system.
	Stream string `json:"stream"`
	Data   string `json:"data"`
}

func (s *Server) appendTaskLog(w http.ResponseWriter, r *http.Request) error {
	var req logRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	l, err := s.lease(r, req.Lease)
	if err != nil {
		return err
	}
	if err := s.engine.AppendLog(r.Context(), l.WorkerID, l.Lease, req.Stream, req.Data); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// progressRequest is the body of POST /workers/tasks/{id}/progress: how
// far the attempt has got, kept on the task.
type progressRequest struct {
	Lease   string `json:"lease"`
	Done    int64  `json:"done"`
	Total   int64  `json:"total"`
	Message string `json:"message"`
}

func (s *Server) reportTaskProgress(w http.ResponseWriter, r *http.Request) error {
	var req progressRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	l, err := s.lease(r, req.Lease)
	if err != nil {
		return err
	}
	if req.Done < 0 || req.Total < 0 {
		return errorf(errUnprocessable, `fields "done" and "total" must not be negative: %d/%d`, req.Done, req.Total)
	}
	if err := s.engine.ReportProgress(l.WorkerID, l.Lease, loom.Progress{Done: req.Done, Total: req.Total, Message: req.Message}); err != nil {
		return err
	}
	// Accepted: reports are coalesced, and one of an attempt the worker
	// no longer holds is dropped.
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// completeRequest is the body of POST /workers/tasks/{id}/complete.
type completeRequest struct {
	Lease  string      `json:"lease"`
	Output loom.Values `json:"output"`
	// Msg is kept as the task's msg.
	Msg string `json:"msg"`
	// Started and Ended are when the worker ran the attempt, by its clock.
	Started *time.Time `json:"started"`
	Ended   *time.Time `json:"ended"`
}

// failRequest is the body of POST /workers/tasks/{id}/fail.
type failRequest struct {
	Lease string `json:"lease"`
	// Error says what went wrong; it becomes the task's msg.
	Error string `json:"error"`
	// Permanent says no retry can help: the task fails now.
	Permanent bool `json:"permanent"`
	// RetryAfterMS is the least wait before the next attempt.
	RetryAfterMS int64      `json:"retry_after_ms"`
	Started      *time.Time `json:"started"`
	Ended        *time.Time `json:"ended"`
}

// resultAnswer is the answer of complete and fail: the task after the
// result, pending again when a failure will be retried.
type resultAnswer struct {
	ID      string      `json:"id"`
	Attempt int         `json:"attempt"`
	Status  loom.Status `json:"status"`
	RunAt   time.Time   `json:"run_at"`
}

func (s *Server) completeTask(w http.ResponseWriter, r *http.Request) error {
	var req completeRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	l, err := s.lease(r, req.Lease)
	if err != nil {
		return err
	}
	o := &engine.PullOutcome{WorkerID: l.WorkerID, Lease: l.Lease, Output: req.Output, Msg: req.Msg}
	return s.finishTask(w, r, o, req.Started, req.Ended)
}

func (s *Server) failTask(w http.ResponseWriter, r *http.Request) error {
	var req failRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	l, err := s.lease(r, req.Lease)
	if err != nil {
		return err
	}
	if req.RetryAfterMS < 0 {
		return errorf(errUnprocessable, `field "retry_after_ms": %d is negative`, req.RetryAfterMS)
	}
	msg := req.Error
	if msg == "" {
		msg = "worker reported an error"
	}
	cause := errors.New(msg)
	switch {
	case req.Permanent:
		cause = loom.Permanent(cause)
	case req.RetryAfterMS > 0:
		cause = loom.RetryAfter(cause, time.Duration(req.RetryAfterMS)*time.Millisecond)
	}
	o := &engine.PullOutcome{WorkerID: l.WorkerID, Lease: l.Lease, Err: cause}
	return s.finishTask(w, r, o, req.Started, req.Ended)
}

// finishTask records o with the worker's times, refusing times a store
// cannot keep, and answers the task's state.
func (s *Server) finishTask(w http.ResponseWriter, r *http.Request, o *engine.PullOutcome, started, ended *time.Time) error {
	for field, t := range map[string]*time.Time{"started": started, "ended": ended} {
		if t != nil {
			if err := checkTimeRange(field, *t); err != nil {
				return err
			}
		}
	}
	if started != nil {
		o.Started = *started
	}
	if ended != nil {
		o.Ended = *ended
	}
	t, err := s.engine.Finish(r.Context(), o)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resultAnswer{ID: t.ID, Attempt: t.Attempt, Status: t.Status, RunAt: t.RunAt})
	return nil
}
