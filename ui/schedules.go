package ui

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/schedule"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/taskmaster"
)

// recentRuns is how many of a schedule's runs its detail page lists.
const recentRuns = 20

// scheduleRow is a schedule as the schedules pages show it: its stored
// state and next fire times, read in the schedule's own time zone, with
// its effective policies and whether it is late.
type scheduleRow struct {
	*taskmaster.ScheduleInfo
	// Zone is the schedule's time zone ("UTC" when it names none).
	Zone string
	// Upcoming are the next fire times, in Zone.
	Upcoming []time.Time
	// Overlap and CatchUp are the policies in force, defaults filled in.
	Overlap, CatchUp string
	// Grace is how late a run may start and still be on time.
	Grace time.Duration
	// Late says why the schedule is late; empty when it is on time.
	Late string
}

// scheduleRowOf builds the row of info. open holds the open alerts by
// key, now is the UI's clock.
func scheduleRowOf(info *taskmaster.ScheduleInfo, open map[string]*store.Alert, now time.Time) scheduleRow {
	d := info.Def
	row := scheduleRow{ScheduleInfo: info, Zone: d.TimeZone, Overlap: string(d.Overlap), Grace: d.Grace}
	if row.Zone == "" {
		row.Zone = "UTC"
	}
	if row.Overlap == "" {
		row.Overlap = string(schedule.OverlapSkip)
	}
	row.CatchUp = string(d.CatchUp.Mode)
	if row.CatchUp == "" {
		row.CatchUp = string(schedule.CatchUpRunOnce)
	}
	if d.CatchUp.Mode == schedule.CatchUpRunAll {
		limit := d.CatchUp.Limit
		if limit == 0 {
			limit = schedule.DefaultCatchUpLimit
		}
		row.CatchUp += " (at most " + strconv.Itoa(limit) + ")"
	}
	if row.Grace == 0 {
		row.Grace = schedule.DefaultGrace
	}
	loc, err := schedule.LoadZone(d.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	for _, t := range info.Next {
		row.Upcoming = append(row.Upcoming, t.In(loc))
	}
	row.Late = scheduleLateness(info, open, row.Grace, now)
	return row
}

// scheduleLateness says why a schedule is late, or "" when it is not: an
// open schedule_late alert; a scheduled time the scheduler has not
// accounted for though it came due more than the grace period ago (no
// scheduler is running); or a last run that waits to start past its due
// time and the grace period (no worker takes it).
func scheduleLateness(info *taskmaster.ScheduleInfo, open map[string]*store.Alert, grace time.Duration, now time.Time) string {
	if a, ok := open[store.AlertScheduleLate+":"+info.Def.Name]; ok {
		return a.Message
	}
	if info.Def.Paused {
		return ""
	}
	if !info.Cursor.IsZero() {
		if spec, err := info.Def.Spec(); err == nil {
			if due := spec.Next(info.Cursor); !due.IsZero() && now.After(due.Add(grace)) {
				return "the run due at " + due.UTC().Format(time.RFC3339) + " has not been created: is a scheduler running?"
			}
		}
	}
	if t := info.LastRun; t != nil && t.Status == loom.StatusPending && now.After(t.RunAt.Add(grace)) {
		return "the last run, due at " + t.RunAt.UTC().Format(time.RFC3339) + ", has not started"
	}
	return ""
}

// openAlerts returns the open alerts by key.
func (u *UI) openAlerts(ctx context.Context) (map[string]*store.Alert, error) {
	as, err := u.tm.Alerts(ctx, true, 10000)
	if err != nil {
		return nil, err
	}
	open := make(map[string]*store.Alert, len(as))
	for _, a := range as {
		open[a.Key] = a
	}
	return open, nil
}

// scheduleRows returns every schedule as a row, and how many are late.
func (u *UI) scheduleRows(ctx context.Context, open map[string]*store.Alert) ([]scheduleRow, int, error) {
	infos, err := u.tm.Schedules(ctx)
	if err != nil {
		return nil, 0, err
	}
	now := u.cfg.Now()
	rows := make([]scheduleRow, len(infos))
	late := 0
	for i, info := range infos {
		rows[i] = scheduleRowOf(info, open, now)
		if rows[i].Late != "" {
			late++
		}
	}
	return rows, late, nil
}

type schedulesData struct {
	Schedules []scheduleRow
	Late      int
}

func (u *UI) schedules(w http.ResponseWriter, r *http.Request) error {
	open, err := u.openAlerts(r.Context())
	if err != nil {
		return err
	}
	rows, late, err := u.scheduleRows(r.Context(), open)
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, "schedules", "", page{Title: "Schedules", Nav: "schedules",
		Data: schedulesData{Schedules: rows, Late: late}})
}

// scheduleRun is one task a schedule created.
type scheduleRun struct {
	*loom.TaskInfo
	// Scheduled is the time the run was for; zero for a manual run.
	Scheduled time.Time
	Manual    bool
	CatchUp   bool
	Backfill  bool
}

type scheduleData struct {
	scheduleRow
	Input      string
	Attributes string
	Runs       []scheduleRun
	// RunsPrefix starts the idempotency key of every run: the task
	// list's search for them.
	RunsPrefix string
}

// runKeyPrefix starts the idempotency key of every run of schedule name,
// as package taskmaster writes it.
func runKeyPrefix(name string) string { return taskmaster.ScheduleKeyPrefix + name + "@" }

func (u *UI) scheduleDetail(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("name")
	info, err := u.tm.Schedule(ctx, name)
	if err != nil {
		return err
	}
	open, err := u.openAlerts(ctx)
	if err != nil {
		return err
	}
	d := scheduleData{scheduleRow: scheduleRowOf(info, open, u.cfg.Now())}
	if len(info.Task.Input) > 0 {
		d.Input = prettyJSON(info.Task.Input)
	}
	if len(info.Task.Attributes) > 0 {
		d.Attributes = prettyJSON(info.Task.Attributes)
	}
	prefix := runKeyPrefix(name)
	d.RunsPrefix = prefix
	runs, err := u.engine.List(ctx, &store.ListTasksParams{KeyPrefix: prefix, Limit: recentRuns})
	if err != nil {
		return err
	}
	for _, t := range runs.Tasks {
		run := scheduleRun{TaskInfo: t}
		run.Manual, _ = t.Attributes["manual"].(bool)
		run.CatchUp, _ = t.Attributes["catch_up"].(bool)
		run.Backfill, _ = t.Attributes["backfill"].(bool)
		if s, ok := t.Attributes["scheduled"].(string); ok {
			run.Scheduled, _ = time.Parse(time.RFC3339Nano, s)
		}
		d.Runs = append(d.Runs, run)
	}
	return u.render(w, r, http.StatusOK, "schedule", "", page{Title: name, Nav: "schedules", Data: d})
}

// pauseSchedule pauses or resumes a schedule and returns to the page the
// form was on.
func (u *UI) pauseSchedule(paused bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("name")
		if _, err := u.tm.SetPaused(r.Context(), name, paused); err != nil {
			return err
		}
		u.redirect(w, r, backTo(r, "/schedules"))
		return nil
	}
}

// triggerSchedule creates a run of the schedule now and shows its task.
func (u *UI) triggerSchedule(w http.ResponseWriter, r *http.Request) error {
	t, err := u.tm.TriggerSchedule(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	u.redirect(w, r, "/tasks/"+url.PathEscape(t.ID))
	return nil
}

// deleteSchedule forgets the schedule (its tasks stay) and returns to
// the list.
func (u *UI) deleteSchedule(w http.ResponseWriter, r *http.Request) error {
	if err := u.tm.DeleteSchedule(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	u.redirect(w, r, "/schedules")
	return nil
}

// backTo is the form field "back" when it is a path of the UI's own (one
// of the schedules pages), else def: where an action returns to.
func backTo(r *http.Request, def string) string {
	if err := r.ParseForm(); err != nil {
		return def
	}
	b := r.PostForm.Get("back")
	if b == "/schedules" || (strings.HasPrefix(b, "/schedules/") && !strings.ContainsAny(b[len("/schedules/"):], "/?#\\")) {
		return b
	}
	return def
}
