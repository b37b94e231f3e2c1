package schedule

import (
	"errors"
	"fmt"
	"time"
)

// OverlapPolicy says what happens when a schedule comes due while earlier
// runs of it are still active (created and not finished). The zero value
// means OverlapSkip.
type OverlapPolicy string

const (
	// OverlapSkip creates no run while one is active and reports the
	// scheduled time as skipped; at most one run is created per Plan. The
	// default: a slow job never piles up behind itself.
	OverlapSkip OverlapPolicy = "skip"
	// OverlapQueue creates every run, marked Queued when it must wait for
	// the schedule's earlier runs to finish: runs of the schedule execute
	// one at a time, in scheduled order.
	OverlapQueue OverlapPolicy = "queue"
	// OverlapAllow creates every run at once, whatever is active.
	OverlapAllow OverlapPolicy = "allow"
)

// CatchUpMode says what happens to the scheduled times that passed while
// no engine was running (they are "missed": older than Schedule.Grace when
// the engine next looks). The zero value means CatchUpRunOnce.
type CatchUpMode string

const (
	// CatchUpSkipMissed drops missed times; the schedule resumes with its
	// next time in the future.
	CatchUpSkipMissed CatchUpMode = "skip_missed"
	// CatchUpRunOnce creates one run, at the most recent missed time,
	// standing for all of them; none if a time is due on time anyway. The
	// default, as with anacron and systemd's Persistent=true.
	CatchUpRunOnce CatchUpMode = "run_once"
	// CatchUpRunAll creates a run for every missed time, up to
	// CatchUp.Limit of the most recent ones; older ones are skipped (a
	// Backfill recovers them).
	CatchUpRunAll CatchUpMode = "run_all"
)

// DefaultCatchUpLimit is CatchUp.Limit when it is zero: enough to catch up
// a few missed periods, too few to flood workers after a long outage.
const DefaultCatchUpLimit = 10

// MaxCatchUpLimit is the largest CatchUp.Limit: a catch-up creates its
// runs at once, so it must stay small whatever the outage was.
const MaxCatchUpLimit = 1000

// MaxJitter is the largest Schedule.Jitter (366 days), and MaxGrace the
// largest Schedule.Grace: beyond them the values mean nothing for a
// recurring schedule, and the times they shift stay well inside what a
// store keeps.
const (
	MaxJitter = 366 * 24 * time.Hour
	MaxGrace  = 366 * 24 * time.Hour
)

// DefaultGrace is Schedule.Grace when it is zero: a tick this late still
// counts as on time.
const DefaultGrace = time.Minute

// CatchUp is a schedule's policy for times missed during downtime.
type CatchUp struct {
	// Mode is what to do with missed times; default CatchUpRunOnce.
	Mode CatchUpMode `json:"mode,omitempty"`
	// Limit caps the runs CatchUpRunAll creates for missed times; default
	// DefaultCatchUpLimit, at most MaxCatchUpLimit. Other modes ignore it.
	Limit int `json:"limit,omitempty"`
}

// Schedule is the definition of a recurring taskmaster: when to create
// runs, and what to do about overlaps, downtime and thundering herds. What
// the runs do (the task or flow and its input) is the engine's business.
// The zero values of the policy fields mean their defaults.
type Schedule struct {
	// Name identifies the schedule and is part of every fire's dedup key,
	// so renaming a schedule starts a new series. Required.
	Name string `json:"name"`
	// Cron is the expression, as Parse reads it. Required.
	Cron string `json:"cron"`
	// TimeZone is the IANA zone the expression's fields are read in;
	// default UTC.
	TimeZone string `json:"timezone,omitempty"`
	// Overlap is the policy while runs are active; default OverlapSkip.
	Overlap OverlapPolicy `json:"overlap,omitempty"`
	// CatchUp is the policy for times missed during downtime; default
	// run once.
	CatchUp CatchUp `json:"catch_up,omitzero"`
	// Jitter delays each run by a deterministic amount in [0, Jitter), so
	// that many schedules on the same minute do not start together; 0 (the
	// default) means none; at most MaxJitter. A run never starts before
	// its scheduled time.
	Jitter time.Duration `json:"jitter,omitempty"`
	// Grace is how late the engine may look at a scheduled time and still
	// treat it as on time rather than missed; default DefaultGrace, at
	// most MaxGrace.
	Grace time.Duration `json:"grace,omitempty"`
	// Paused stops the schedule from creating runs; times that pass while
	// paused are skipped, not caught up on resume.
	Paused bool `json:"paused,omitempty"`
}

// Spec parses the schedule's expression in its time zone.
func (s Schedule) Spec() (*Spec, error) {
	spec, err := Parse(s.Cron, s.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", s.Name, err)
	}
	return spec, nil
}

// Validate reports every problem with the definition at once, each naming
// the field at fault, so an API can reject a bad schedule before storing it.
func (s Schedule) Validate() error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, errors.New("name: required"))
	}
	if _, err := Parse(s.Cron, s.TimeZone); err != nil {
		errs = append(errs, fmt.Errorf("cron: %w", err))
	}
	switch s.Overlap {
	case "", OverlapSkip, OverlapQueue, OverlapAllow:
	default:
		errs = append(errs, fmt.Errorf("overlap: %q is not skip, queue or allow", s.Overlap))
	}
	switch s.CatchUp.Mode {
	case "", CatchUpSkipMissed, CatchUpRunOnce, CatchUpRunAll:
	default:
		errs = append(errs, fmt.Errorf("catch_up.mode: %q is not skip_missed, run_once or run_all", s.CatchUp.Mode))
	}
	if s.CatchUp.Limit < 0 || s.CatchUp.Limit > MaxCatchUpLimit {
		errs = append(errs, fmt.Errorf("catch_up.limit: %d is not between 0 and %d", s.CatchUp.Limit, MaxCatchUpLimit))
	}
	if s.Jitter < 0 || s.Jitter > MaxJitter {
		errs = append(errs, fmt.Errorf("jitter: %s is not between 0s and %s", s.Jitter, MaxJitter))
	}
	if s.Grace < 0 || s.Grace > MaxGrace {
		errs = append(errs, fmt.Errorf("grace: %s is not between 0s and %s", s.Grace, MaxGrace))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("schedule %q: %w", s.Name, err)
	}
	return nil
}

// withDefaults returns s with its zero policy fields filled in; the one
// place the defaults are chosen.
func (s Schedule) withDefaults() Schedule {
	if s.Overlap == "" {
		s.Overlap = OverlapSkip
	}
	if s.CatchUp.Mode == "" {
		s.CatchUp.Mode = CatchUpRunOnce
	}
	if s.CatchUp.Limit == 0 {
		s.CatchUp.Limit = DefaultCatchUpLimit
	}
	if s.Grace == 0 {
		s.Grace = DefaultGrace
	}
	return s
}
