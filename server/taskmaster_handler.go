package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/auth"
	"github.com/loomhq/loom/schedule"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/taskmaster"
	"github.com/loomhq/loom/trigger"
)

// errNoTaskmaster: the server runs without taskmasters (Config.Taskmaster
// is nil), so schedules, triggers, checks and alerts are unavailable.
var errNoTaskmaster = errors.New("taskmasters are not running on this server")

func init() {
	errorTable = append(errorTable,
		struct {
			target error
			status int
			code   string
		}{taskmaster.ErrInvalid, http.StatusUnprocessableEntity, CodeInvalid},
		struct {
			target error
			status int
			code   string
		}{taskmaster.ErrUnauthorized, http.StatusUnauthorized, CodeInvalid},
		struct {
			target error
			status int
			code   string
		}{store.ErrDuplicate, http.StatusConflict, CodeConflict},
		struct {
			target error
			status int
			code   string
		}{errNoTaskmaster, http.StatusServiceUnavailable, CodeUnavailable},
	)
}

// taskmasterRoutes are the operations on schedules, triggers, events,
// checks, notifiers, alerts, signals and backfills. They are registered
// whether or not a Taskmaster is configured (without one they answer
// 503), so the API's shape does not depend on the configuration. A
// webhook (/hooks/{name}) is authenticated by its trigger's signature,
// not by a token, so it is Public.
func (s *Server) taskmasterRoutes() []route {
	return []route{
		{http.MethodPost, "/schedules", auth.Admin, s.tm(s.createSchedule)},
		{http.MethodGet, "/schedules", auth.Viewer, s.tm(s.listSchedules)},
		{http.MethodGet, "/schedules/{name}", auth.Viewer, s.tm(s.getSchedule)},
		{http.MethodPatch, "/schedules/{name}", auth.Admin, s.tm(s.patchSchedule)},
		{http.MethodDelete, "/schedules/{name}", auth.Admin, s.tm(s.deleteSchedule)},
		{http.MethodPost, "/schedules/{name}/pause", auth.Operator, s.tm(s.pauseSchedule(true))},
		{http.MethodPost, "/schedules/{name}/resume", auth.Operator, s.tm(s.pauseSchedule(false))},
		{http.MethodPost, "/schedules/{name}/trigger", auth.Operator, s.tm(s.triggerSchedule)},
		{http.MethodPost, "/backfills", auth.Admin, s.tm(s.createBackfill)},
		{http.MethodGet, "/backfills", auth.Viewer, s.tm(s.listBackfills)},
		{http.MethodGet, "/backfills/{id}", auth.Viewer, s.tm(s.getBackfill)},
		{http.MethodPost, "/backfills/{id}/cancel", auth.Admin, s.tm(s.cancelBackfill)},
		{http.MethodPost, "/events", auth.Operator, s.tm(s.postEvent)},
		{http.MethodPost, "/hooks/{name}", auth.Public, s.tm(s.postWebhook)},
		{http.MethodPost, "/triggers", auth.Admin, s.tm(s.putTrigger)},
		{http.MethodGet, "/triggers", auth.Viewer, s.tm(s.listTriggers)},
		{http.MethodGet, "/triggers/{name}", auth.Viewer, s.tm(s.getTrigger)},
		{http.MethodDelete, "/triggers/{name}", auth.Admin, s.tm(s.deleteTrigger)},
		{http.MethodPost, "/checks", auth.Admin, s.tm(s.createCheck)},
		{http.MethodGet, "/checks", auth.Viewer, s.tm(s.listChecks)},
		{http.MethodGet, "/checks/{name}", auth.Viewer, s.tm(s.getCheck)},
		{http.MethodPatch, "/checks/{name}", auth.Admin, s.tm(s.patchCheck)},
		{http.MethodDelete, "/checks/{name}", auth.Admin, s.tm(s.deleteCheck)},
		{http.MethodPost, "/checks/{name}/ping", auth.Operator, s.tm(s.pingCheck)},
		{http.MethodPost, "/notifiers", auth.Admin, s.tm(s.putNotifier)},
		{http.MethodGet, "/notifiers", auth.Viewer, s.tm(s.listNotifiers)},
		{http.MethodDelete, "/notifiers/{name}", auth.Admin, s.tm(s.deleteNotifier)},
		{http.MethodGet, "/alerts", auth.Viewer, s.tm(s.listAlerts)},
		{http.MethodGet, "/deliveries", auth.Viewer, s.tm(s.listDeliveries)},
		{http.MethodPost, "/tasks/{id}/signal", auth.Operator, s.tm(s.signalTask)},
	}
}

// tm guards a handler that needs the Taskmaster.
func (s *Server) tm(h func(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.cfg.Taskmaster == nil {
			return errorf(errNoTaskmaster, "schedules, triggers, checks and alerts are not enabled on this server")
		}
		return h(w, r, s.cfg.Taskmaster)
	}
}

// duration is a time.Duration written in JSON as a Go duration string
// ("10m", "1h30m").
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(time.Duration(d).String())), nil
}

func (d *duration) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("a duration is a string like \"10m\", not %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = duration(v)
	return nil
}

// scheduleRequest is the body of POST /schedules and PATCH
// /schedules/{name} (which overlays the fields it has on the stored
// schedule).
type scheduleRequest struct {
	Name     string             `json:"name"`
	Cron     string             `json:"cron"`
	Timezone string             `json:"timezone,omitempty"`
	Task     store.TaskTemplate `json:"task"`
	Overlap  string             `json:"overlap,omitempty"`
	CatchUp  schedule.CatchUp   `json:"catch_up,omitzero"`
	Jitter   duration           `json:"jitter,omitempty"`
	Grace    duration           `json:"grace,omitempty"`
	Paused   bool               `json:"paused,omitempty"`
}

func (req *scheduleRequest) schedule() *store.Schedule {
	return &store.Schedule{
		Def: schedule.Schedule{
			Name: req.Name, Cron: req.Cron, TimeZone: req.Timezone, Overlap: schedule.OverlapPolicy(req.Overlap),
			CatchUp: req.CatchUp, Jitter: time.Duration(req.Jitter), Grace: time.Duration(req.Grace), Paused: req.Paused,
		},
		Task: req.Task,
	}
}

func scheduleRequestOf(sc *store.Schedule) scheduleRequest {
	d := sc.Def
	return scheduleRequest{Name: d.Name, Cron: d.Cron, Timezone: d.TimeZone, Task: sc.Task, Overlap: string(d.Overlap),
		CatchUp: d.CatchUp, Jitter: duration(d.Jitter), Grace: duration(d.Grace), Paused: d.Paused}
}

// scheduleObject is a schedule as the API answers it.
type scheduleObject struct {
	scheduleRequest
	// Next are the next five scheduled times (empty while paused).
	Next []time.Time `json:"next"`
	// Cursor is the newest scheduled time accounted for.
	Cursor time.Time `json:"cursor"`
	// Queued counts runs waiting for earlier ones (overlap queue).
	Queued int `json:"queued"`
	// LastFire is the scheduled time of the newest run.
	LastFire *time.Time `json:"last_fire,omitempty"`
	// LastRun is that run's task.
	LastRun *loom.TaskInfo `json:"last_run,omitempty"`
	Created time.Time      `json:"created"`
	Updated time.Time      `json:"updated"`
}

func scheduleObjectOf(info *taskmaster.ScheduleInfo) scheduleObject {
	o := scheduleObject{scheduleRequest: scheduleRequestOf(info.Schedule), Next: info.Next, Cursor: info.Cursor,
		Queued: len(info.Backlog), LastRun: info.LastRun, Created: info.Created, Updated: info.Updated}
	if !info.LastFire.IsZero() {
		lf := info.LastFire
		o.LastFire = &lf
	}
	if o.Next == nil {
		o.Next = []time.Time{}
	}
	return o
}

// scheduleList is the answer of GET /schedules.
type scheduleList struct {
	Schedules []scheduleObject `json:"schedules"`
}

func (s *Server) createSchedule(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	var req scheduleRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	info, err := tm.CreateSchedule(r.Context(), req.schedule())
	if err != nil {
		return err
	}
	w.Header().Set("Location", APIPrefix+"/schedules/"+info.Def.Name)
	writeJSON(w, http.StatusCreated, scheduleObjectOf(info))
	return nil
}

func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	infos, err := tm.Schedules(r.Context())
	if err != nil {
		return err
	}
	out := scheduleList{Schedules: make([]scheduleObject, len(infos))}
	for i, info := range infos {
		out.Schedules[i] = scheduleObjectOf(info)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getSchedule(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	info, err := tm.Schedule(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, scheduleObjectOf(info))
	return nil
}

func (s *Server) patchSchedule(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	name := r.PathValue("name")
	info, err := tm.Schedule(r.Context(), name)
	if err != nil {
		return err
	}
	req := scheduleRequestOf(info.Schedule)
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if req.Name != name {
		return errorf(errUnprocessable, `field "name": a schedule cannot be renamed; create a new one`)
	}
	info, err = tm.UpdateSchedule(r.Context(), req.schedule())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, scheduleObjectOf(info))
	return nil
}

func (s *Server) deleteSchedule(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	if err := tm.DeleteSchedule(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) pauseSchedule(paused bool) func(http.ResponseWriter, *http.Request, *taskmaster.Taskmaster) error {
	return func(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
		info, err := tm.SetPaused(r.Context(), r.PathValue("name"), paused)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, scheduleObjectOf(info))
		return nil
	}
}

func (s *Server) triggerSchedule(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	task, err := tm.TriggerSchedule(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	w.Header().Set("Location", APIPrefix+"/tasks/"+task.ID)
	writeJSON(w, http.StatusCreated, task)
	return nil
}

// backfillRequest is the body of POST /backfills.
type backfillRequest struct {
	Schedule string              `json:"schedule,omitempty"`
	Cron     string              `json:"cron,omitempty"`
	Timezone string              `json:"timezone,omitempty"`
	Task     *store.TaskTemplate `json:"task,omitempty"`
	From     time.Time           `json:"from"`
	To       time.Time           `json:"to"`
	Rate     int                 `json:"rate,omitempty"`
}

// backfillList is the answer of GET /backfills.
type backfillList struct {
	Backfills []*store.Backfill `json:"backfills"`
}

func (s *Server) createBackfill(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	var req backfillRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if err := checkTimeRange("from", req.From); err != nil {
		return err
	}
	if err := checkTimeRange("to", req.To); err != nil {
		return err
	}
	b, err := tm.StartBackfill(r.Context(), &store.Backfill{Schedule: req.Schedule, Cron: req.Cron, TimeZone: req.Timezone,
		Task: req.Task, From: req.From, To: req.To, Rate: req.Rate})
	if err != nil {
		return err
	}
	w.Header().Set("Location", APIPrefix+"/backfills/"+b.ID)
	writeJSON(w, http.StatusAccepted, b)
	return nil
}

func (s *Server) listBackfills(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	bs, err := tm.Backfills(r.Context())
	if err != nil {
		return err
	}
	if bs == nil {
		bs = []*store.Backfill{}
	}
	writeJSON(w, http.StatusOK, backfillList{Backfills: bs})
	return nil
}

func (s *Server) getBackfill(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	b, err := tm.Backfill(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) cancelBackfill(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	b, err := tm.CancelBackfill(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

// eventRequest is the body of POST /events.
type eventRequest struct {
	Type string         `json:"type"`
	Data map[string]any `json:"data,omitempty"`
	// ID identifies the event: posting the same id again starts nothing
	// new.
	ID string `json:"id,omitempty"`
}

// startedList is the answer of POST /events: what each matching trigger
// started.
type startedList struct {
	Started []taskmaster.Started `json:"started"`
}

func (s *Server) postEvent(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	var req eventRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	started, err := tm.Publish(r.Context(), trigger.Event{Type: req.Type, Data: req.Data}, req.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, startedList{Started: started})
	return nil
}

func (s *Server) postWebhook(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	started, err := tm.Webhook(r.Context(), r.PathValue("name"), r.Header, body)
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if started.Replayed {
		// A replay starts nothing; it is told what the first delivery did.
		status = http.StatusOK
	}
	writeJSON(w, status, startedList{Started: []taskmaster.Started{*started}})
	return nil
}

// triggerList is the answer of GET /triggers.
type triggerList struct {
	Triggers []*store.Trigger `json:"triggers"`
}

func (s *Server) putTrigger(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	var tr store.Trigger
	if err := s.decodeBody(w, r, &tr, false); err != nil {
		return err
	}
	created, err := tm.PutTrigger(r.Context(), &tr)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", APIPrefix+"/triggers/"+tr.Name)
	}
	writeJSON(w, status, redactTrigger(&tr))
	return nil
}

// redactTrigger hides a trigger's webhook secret from answers.
func redactTrigger(tr *store.Trigger) *store.Trigger {
	c := *tr
	if c.Secret != "" {
		c.Secret = "********"
	}
	return &c
}

func (s *Server) listTriggers(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	trs, err := tm.Triggers(r.Context())
	if err != nil {
		return err
	}
	out := triggerList{Triggers: make([]*store.Trigger, len(trs))}
	for i, tr := range trs {
		out.Triggers[i] = redactTrigger(tr)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getTrigger(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	tr, err := tm.Trigger(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, redactTrigger(tr))
	return nil
}

func (s *Server) deleteTrigger(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	if err := tm.DeleteTrigger(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkRequest is the body of POST /checks and PATCH /checks/{name}.
type checkRequest struct {
	Name   string   `json:"name"`
	Period duration `json:"period"`
	Grace  duration `json:"grace,omitempty"`
}

// checkObject is a check as the API answers it.
type checkObject struct {
	checkRequest
	LastPing *time.Time `json:"last_ping,omitempty"`
	Pings    int64      `json:"pings"`
	Created  time.Time  `json:"created"`
	// Due is when the check is late without another ping.
	Due time.Time `json:"due"`
	// Late is whether that time has passed.
	Late bool `json:"late"`
}

func checkObjectOf(c *store.Check, now time.Time) checkObject {
	return checkObject{checkRequest: checkRequest{Name: c.Name, Period: duration(c.Period), Grace: duration(c.Grace)},
		LastPing: c.LastPing, Pings: c.Pings, Created: c.Created, Due: c.Due(), Late: !now.Before(c.Due())}
}

// checkList is the answer of GET /checks.
type checkList struct {
	Checks []checkObject `json:"checks"`
}

func (s *Server) createCheck(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	var req checkRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	c, err := tm.CreateCheck(r.Context(), &store.Check{Name: req.Name, Period: time.Duration(req.Period), Grace: time.Duration(req.Grace)})
	if err != nil {
		return err
	}
	w.Header().Set("Location", APIPrefix+"/checks/"+c.Name)
	writeJSON(w, http.StatusCreated, checkObjectOf(c, time.Now()))
	return nil
}

func (s *Server) listChecks(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	cs, err := tm.Checks(r.Context())
	if err != nil {
		return err
	}
	out := checkList{Checks: make([]checkObject, len(cs))}
	for i, c := range cs {
		out.Checks[i] = checkObjectOf(c, time.Now())
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getCheck(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	c, err := tm.Check(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, checkObjectOf(c, time.Now()))
	return nil
}

func (s *Server) patchCheck(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	name := r.PathValue("name")
	c, err := tm.Check(r.Context(), name)
	if err != nil {
		return err
	}
	req := checkRequest{Name: c.Name, Period: duration(c.Period), Grace: duration(c.Grace)}
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if req.Name != name {
		return errorf(errUnprocessable, `field "name": a check cannot be renamed`)
	}
	c, err = tm.UpdateCheck(r.Context(), &store.Check{Name: name, Period: time.Duration(req.Period), Grace: time.Duration(req.Grace)})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, checkObjectOf(c, time.Now()))
	return nil
}

func (s *Server) deleteCheck(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	if err := tm.DeleteCheck(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) pingCheck(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	c, err := tm.PingCheck(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, checkObjectOf(c, time.Now()))
	return nil
}

// notifierList is the answer of GET /notifiers.
type notifierList struct {
	Notifiers []*store.Notifier `json:"notifiers"`
}

func (s *Server) putNotifier(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	var n store.Notifier
	if err := s.decodeBody(w, r, &n, false); err != nil {
		return err
	}
	created, err := tm.PutNotifier(r.Context(), &n)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	if n.Secret != "" {
		n.Secret = "********"
	}
	writeJSON(w, status, &n)
	return nil
}

func (s *Server) listNotifiers(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	ns, err := tm.Notifiers(r.Context())
	if err != nil {
		return err
	}
	out := notifierList{Notifiers: []*store.Notifier{}}
	for _, n := range ns {
		if n.Secret != "" {
			n.Secret = "********"
		}
		out.Notifiers = append(out.Notifiers, n)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) deleteNotifier(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	if err := tm.DeleteNotifier(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// alertList is the answer of GET /alerts.
type alertList struct {
	Alerts []*store.Alert `json:"alerts"`
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	open := strings.EqualFold(r.URL.Query().Get("open"), "true")
	as, err := tm.Alerts(r.Context(), open, int(min(limit, 1000)))
	if err != nil {
		return err
	}
	if as == nil {
		as = []*store.Alert{}
	}
	writeJSON(w, http.StatusOK, alertList{Alerts: as})
	return nil
}

// deliveryList is the answer of GET /deliveries.
type deliveryList struct {
	Deliveries []*store.Delivery `json:"deliveries"`
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	alert, err := queryInt(r, "alert", 0)
	if err != nil {
		return err
	}
	ds, err := tm.Deliveries(r.Context(), alert, int(min(limit, 1000)))
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []*store.Delivery{}
	}
	writeJSON(w, http.StatusOK, deliveryList{Deliveries: ds})
	return nil
}

// signalRequest is the body of POST /tasks/{id}/signal.
type signalRequest struct {
	Name string         `json:"name"`
	Data map[string]any `json:"data,omitempty"`
}

func (s *Server) signalTask(w http.ResponseWriter, r *http.Request, tm *taskmaster.Taskmaster) error {
	var req signalRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	sig, err := tm.Signal(r.Context(), r.PathValue("id"), req.Name, req.Data)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sig)
	return nil
}
