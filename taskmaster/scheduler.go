package taskmaster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/schedule"
	"github.com/loomhq/loom/store"
)

// ScheduleKeyPrefix starts the idempotency key of every task a schedule
// creates: "schedule:" + schedule.Key(name, scheduled time).
const ScheduleKeyPrefix = "schedule:"

// UpcomingCount is how many next fire times ScheduleInfo lists.
const UpcomingCount = 5

// ScheduleInfo is a schedule as the API and UI show it: the stored
// schedule, its next fire times and its last run.
type ScheduleInfo struct {
	*store.Schedule
	// Next are the next UpcomingCount scheduled times, in UTC (empty when
	// paused).
	Next []time.Time
	// LastRun is the task of the newest run, nil before the first.
	LastRun *loom.TaskInfo
}

// keyPrefix is the idempotency-key prefix of schedule name's runs.
func keyPrefix(name string) string { return ScheduleKeyPrefix + name + "@" }

// validateSchedule checks a schedule before it is stored.
func (t *Taskmaster) validateSchedule(sc *store.Schedule) error {
	if err := validName("schedule", sc.Def.Name); err != nil {
		return err
	}
	if err := sc.Def.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return t.validateTemplate(&sc.Task)
}

// CreateSchedule validates and stores a new schedule and wakes the
// scheduler. Its first run is the first scheduled time after now.
func (t *Taskmaster) CreateSchedule(ctx context.Context, sc *store.Schedule) (*ScheduleInfo, error) {
	if err := t.validateSchedule(sc); err != nil {
		return nil, err
	}
	now := t.clock.Now()
	sc.Created, sc.Updated = now, now
	// The cursor starts at now, as schedule.Plan would start it.
	sc.Cursor = now.UTC().Truncate(time.Second)
	if err := t.st.CreateSchedule(ctx, sc); err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	wake(t.wakeScheduler)
	return t.Schedule(ctx, sc.Def.Name)
}

// UpdateSchedule replaces a schedule's definition, keeping its cursor so
// that no run is created twice; pausing and resuming go through it too.
// A schedule resumed (Paused true to false) starts afresh from now: times
// that passed while it was paused are skipped, not caught up.
func (t *Taskmaster) UpdateSchedule(ctx context.Context, sc *store.Schedule) (*ScheduleInfo, error) {
	if err := t.validateSchedule(sc); err != nil {
		return nil, err
	}
	old, err := t.st.GetSchedule(ctx, sc.Def.Name)
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	now := t.clock.Now()
	p := &store.UpdateScheduleParams{Schedule: sc, Now: now}
	if old.Def.Paused && !sc.Def.Paused {
		p.ResetCursor = now.UTC().Truncate(time.Second)
	}
	if _, err := t.st.UpdateSchedule(ctx, p); err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	wake(t.wakeScheduler)
	return t.Schedule(ctx, sc.Def.Name)
}

// EnsureSchedule makes the schedule sc.Def.Name be defined as sc: it
// creates it when there is none, and otherwise replaces its definition
// and task while keeping its state (cursor, backlog, last run) and whether
// it is paused, so that re-applying a declaration neither repeats nor
// loses a run, and a pause made through the API stands. Nothing is written
// when the definition is unchanged; changed says whether anything was.
// A schedule of that name that creates another task type is not taken
// over: the error wraps ErrDuplicate. A server applies the schedules of
// its flow files with it on every start.
func (t *Taskmaster) EnsureSchedule(ctx context.Context, sc *store.Schedule) (info *ScheduleInfo, changed bool, err error) {
	if err := t.validateSchedule(sc); err != nil {
		return nil, false, err
	}
	old, err := t.st.GetSchedule(ctx, sc.Def.Name)
	if errors.Is(err, store.ErrNotFound) {
		info, err = t.CreateSchedule(ctx, sc)
		if !errors.Is(err, store.ErrDuplicate) {
			return info, err == nil, err
		}
		// Created meanwhile by another process: update it instead.
		old, err = t.st.GetSchedule(ctx, sc.Def.Name)
	}
	if err != nil {
		return nil, false, fmt.Errorf("taskmaster: %w", err)
	}
	if old.Task.Type != sc.Task.Type {
		return nil, false, fmt.Errorf("taskmaster: schedule %s exists already and creates %s tasks, not %s: %w",
			sc.Def.Name, old.Task.Type, sc.Task.Type, store.ErrDuplicate)
	}
	want := *sc
	want.Def.Paused = old.Def.Paused
	if sameJSON(old.Def, want.Def) && sameJSON(old.Task, want.Task) {
		return t.info(ctx, old), false, nil
	}
	info, err = t.UpdateSchedule(ctx, &want)
	return info, err == nil, err
}

// sameJSON reports whether a and b encode to the same JSON, which compares
// values read back from the store (numbers decoded) with values as given.
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// SetPaused pauses or resumes a schedule.
func (t *Taskmaster) SetPaused(ctx context.Context, name string, paused bool) (*ScheduleInfo, error) {
	sc, err := t.st.GetSchedule(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	sc.Def.Paused = paused
	return t.UpdateSchedule(ctx, sc)
}

// DeleteSchedule forgets a schedule; its tasks stay.
func (t *Taskmaster) DeleteSchedule(ctx context.Context, name string) error {
	if err := t.st.DeleteSchedule(ctx, name); err != nil {
		return fmt.Errorf("taskmaster: %w", err)
	}
	t.resolve(ctx, store.AlertScheduleLate+":"+name, "schedule deleted", nil)
	return nil
}

// TriggerSchedule creates one run of a schedule now, outside its
// timetable (what `loom schedules trigger` does). It counts as an active
// run for the overlap policy.
func (t *Taskmaster) TriggerSchedule(ctx context.Context, name string) (*loom.TaskInfo, error) {
	sc, err := t.st.GetSchedule(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	now := t.clock.Now().UTC()
	key := keyPrefix(name) + "manual:" + now.Format(time.RFC3339Nano)
	p, err := t.submitParams(&sc.Task, nil, key, now, map[string]any{"schedule": name, "manual": true})
	if err != nil {
		return nil, err
	}
	task, _, err := t.eng.Submit(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("taskmaster: trigger schedule %s: %w", name, err)
	}
	return task, nil
}

// Schedule returns one schedule with its next fire times and last run.
func (t *Taskmaster) Schedule(ctx context.Context, name string) (*ScheduleInfo, error) {
	sc, err := t.st.GetSchedule(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	return t.info(ctx, sc), nil
}

// Schedules returns every schedule with its next fire times and last run.
func (t *Taskmaster) Schedules(ctx context.Context) ([]*ScheduleInfo, error) {
	scs, err := t.st.ListSchedules(ctx)
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	out := make([]*ScheduleInfo, len(scs))
	for i, sc := range scs {
		out[i] = t.info(ctx, sc)
	}
	return out, nil
}

func (t *Taskmaster) info(ctx context.Context, sc *store.Schedule) *ScheduleInfo {
	info := &ScheduleInfo{Schedule: sc, Next: []time.Time{}}
	if !sc.Def.Paused {
		if next, err := sc.Def.Upcoming(sc.Cursor, t.clock.Now(), UpcomingCount); err == nil {
			info.Next = next
		}
	}
	if sc.LastTaskID != "" {
		if task, err := t.eng.Get(ctx, sc.LastTaskID); err == nil {
			info.LastRun = task
		}
	}
	return info
}

// runScheduler ticks every schedule when it comes due, sleeping on the
// clock until the earliest next fire (or a wake-up) in between.
func (t *Taskmaster) runScheduler(ctx context.Context) {
	for ctx.Err() == nil {
		next := t.tickSchedules(ctx)
		d := t.cfg.MaxSleep
		if !next.IsZero() {
			d = min(d, next.Sub(t.clock.Now()))
		}
		if !t.sleep(ctx, max(d, 0), t.wakeScheduler) {
			return
		}
	}
}

// tickSchedules runs Plan for every schedule and returns the earliest
// time one needs looking at again (zero: none).
func (t *Taskmaster) tickSchedules(ctx context.Context) time.Time {
	// The time is read before the schedules: a decision must not fire a
	// run due after the definition it decides on was read, or a schedule
	// paused meanwhile would fire once more.
	now := t.clock.Now()
	scs, err := t.st.ListSchedules(ctx)
	if err != nil {
		if ctx.Err() == nil {
			t.logger.Error("taskmaster: list schedules", "err", err)
		}
		return t.clock.Now().Add(t.cfg.PollInterval)
	}
	var earliest time.Time
	for _, sc := range scs {
		next, err := t.tickSchedule(ctx, sc, now)
		if err != nil {
			if ctx.Err() != nil {
				return time.Time{}
			}
			t.logger.Error("taskmaster: schedule", "schedule", sc.Def.Name, "err", err)
			next = t.clock.Now().Add(t.cfg.PollInterval)
		}
		if !next.IsZero() && (earliest.IsZero() || next.Before(earliest)) {
			earliest = next
		}
	}
	return earliest
}

// tickSchedule applies one scheduling decision for sc: it submits the
// runs due (each with its fire's dedup key) and only then stores the
// cursor, so a crash in between repeats a decision whose tasks already
// exist. now is when sc was read. It returns when sc next needs a tick.
func (t *Taskmaster) tickSchedule(ctx context.Context, sc *store.Schedule, now time.Time) (time.Time, error) {
	name := sc.Def.Name
	active, err := t.st.CountActive(ctx, keyPrefix(name))
	if err != nil {
		return time.Time{}, err
	}
	adv := &store.AdvanceScheduleParams{Name: name, Cursor: sc.Cursor, Backlog: sc.Backlog}
	var submitErr error
	submit := func(f schedule.Fire) {
		task, err := t.submitFire(ctx, sc, f)
		if err != nil {
			submitErr = errors.Join(submitErr, err)
			return
		}
		active++
		if f.Scheduled.After(adv.LastFire) || adv.LastFire.IsZero() {
			adv.LastFire, adv.LastTaskID = f.Scheduled, task.ID
		}
	}
	// Queued runs start one at a time, oldest first, once nothing runs.
	if len(adv.Backlog) > 0 && active == 0 && !sc.Def.Paused {
		submit(adv.Backlog[0])
		adv.Backlog = adv.Backlog[1:]
	}
	d, err := schedule.Plan(sc.Def, sc.Cursor, now, active)
	if err != nil {
		return time.Time{}, err
	}
	adv.Cursor = d.Cursor
	onTime := false
	for _, f := range d.Fires {
		if f.Queued || (len(adv.Backlog) > 0 && sc.Def.Overlap == schedule.OverlapQueue) {
			adv.Backlog = append(adv.Backlog, f)
			continue
		}
		submit(f)
		onTime = onTime || !f.CatchUp
	}
	if n := len(adv.Backlog); n > t.cfg.MaxBacklog {
		t.logger.Warn("taskmaster: schedule backlog full, dropping oldest runs", "schedule", name, "dropped", n-t.cfg.MaxBacklog)
		adv.Backlog = adv.Backlog[n-t.cfg.MaxBacklog:]
	}
	if submitErr != nil {
		// Keep the cursor: the next tick repeats the decision, and the
		// runs already created are deduplicated.
		return time.Time{}, submitErr
	}
	if !adv.Cursor.Equal(sc.Cursor) || adv.LastTaskID != "" || len(adv.Backlog) != len(sc.Backlog) {
		if err := t.st.AdvanceSchedule(ctx, adv); err != nil {
			return time.Time{}, err
		}
	}
	t.watchSchedule(ctx, sc, d, onTime)
	next := d.Next
	if len(adv.Backlog) > 0 {
		// Woken by nothing when a run ends: look again soon.
		if soon := now.Add(t.cfg.PollInterval); next.IsZero() || soon.Before(next) {
			next = soon
		}
	}
	return next, nil
}

// submitFire creates the task of one fire.
func (t *Taskmaster) submitFire(ctx context.Context, sc *store.Schedule, f schedule.Fire) (*loom.TaskInfo, error) {
	attrs := map[string]any{"schedule": sc.Def.Name, "scheduled": f.Scheduled.Format(time.RFC3339Nano)}
	if f.CatchUp {
		attrs["catch_up"] = true
	}
	if f.Backfill {
		attrs["backfill"] = true
	}
	p, err := t.submitParams(&sc.Task, nil, ScheduleKeyPrefix+f.Key, f.Due, attrs)
	if err != nil {
		return nil, err
	}
	task, _, err := t.eng.Submit(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("submit run %s: %w", f.Key, err)
	}
	return task, nil
}

// watchSchedule raises a schedule_late alert when runs were missed (the
// engine was down past the grace period) or the last run still waits to
// start well after it was due, and resolves it once a run is on time.
func (t *Taskmaster) watchSchedule(ctx context.Context, sc *store.Schedule, d schedule.Decision, onTime bool) {
	key := store.AlertScheduleLate + ":" + sc.Def.Name
	missed := 0
	for _, sk := range d.Skipped {
		if sk.Reason == schedule.SkipMissed {
			missed++
		}
	}
	if missed > 0 {
		msg := fmt.Sprintf("schedule %s missed %d run(s), the latest at %s", sc.Def.Name, missed, d.Skipped[len(d.Skipped)-1].Scheduled.Format(time.RFC3339))
		t.raise(ctx, store.Alert{Key: key, Kind: store.AlertScheduleLate, Subject: sc.Def.Name, Message: msg,
			Data: map[string]any{"schedule": sc.Def.Name, "missed": missed}}, nil, "")
		return
	}
	if sc.LastTaskID != "" {
		grace := sc.Def.Grace
		if grace == 0 {
			grace = schedule.DefaultGrace
		}
		if task, err := t.eng.Get(ctx, sc.LastTaskID); err == nil && task.Status == loom.StatusPending &&
			t.clock.Now().After(task.RunAt.Add(grace)) {
			msg := fmt.Sprintf("schedule %s: run %s due at %s has not started", sc.Def.Name, task.ID, task.RunAt.Format(time.RFC3339))
			t.raise(ctx, store.Alert{Key: key, Kind: store.AlertScheduleLate, Subject: sc.Def.Name, Message: msg,
				Data: map[string]any{"schedule": sc.Def.Name, "task_id": task.ID}}, nil, "")
			return
		}
	}
	if onTime {
		t.resolve(ctx, key, "schedule "+sc.Def.Name+" runs on time again", nil)
	}
}
