package schedule

import (
	"errors"
	"fmt"
	"time"
)

// DefaultBackfillLimit is Backfill's limit when it is zero or negative: one
// page of runs for the engine to create, at its own pace, before asking for
// the next.
const DefaultBackfillLimit = 1000

// ErrEmptyRange is returned by Backfill when from is not before to.
var ErrEmptyRange = errors.New("backfill range is empty: from must be before to")

// Backfill lists the runs schedule s would have created for every
// scheduled time in [from, to), oldest first, at most limit of them
// (default DefaultBackfillLimit); more reports that the range holds more.
// To page on, call again with from just after the last fire's Scheduled.
//
// The fires carry the same keys as the runs Plan creates for those times,
// so the engine's dedup makes a backfill idempotent: a second backfill of
// the same range, or one overlapping regular runs, creates nothing new.
// Overlap and catch-up policies do not apply (a backfill is an explicit
// request for each period) and neither does Paused. An `@every` schedule has
// no absolute periods: its grid is anchored at from.
func Backfill(s Schedule, from, to time.Time, limit int) (fires []Fire, more bool, err error) {
	if err := s.Validate(); err != nil {
		return nil, false, fmt.Errorf("backfill: %w", err)
	}
	spec, err := s.Spec()
	if err != nil {
		return nil, false, fmt.Errorf("backfill: %w", err)
	}
	if !from.Before(to) {
		return nil, false, fmt.Errorf("backfill %s to %s: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), ErrEmptyRange)
	}
	if limit <= 0 {
		limit = DefaultBackfillLimit
	}
	t := from
	if spec.Every() == 0 {
		t = spec.Next(from.Add(-time.Nanosecond))
	}
	for ; !t.IsZero() && t.Before(to); t = spec.Next(t) {
		if len(fires) == limit {
			return fires, true, nil
		}
		f := newFire(s, t)
		f.Backfill = true
		fires = append(fires, f)
	}
	return fires, false, nil
}

// CountBackfill counts the runs Backfill would list for [from, to), up to
// max: it answers max+1 as soon as the range holds more, so that a caller
// can refuse a range too large without walking or holding all of it.
func CountBackfill(s Schedule, from, to time.Time, max int) (int, error) {
	spec, err := s.Spec()
	if err != nil {
		return 0, fmt.Errorf("count backfill: %w", err)
	}
	if !from.Before(to) {
		return 0, nil
	}
	t := from
	if spec.Every() == 0 {
		t = spec.Next(from.Add(-time.Nanosecond))
	}
	n := 0
	for ; !t.IsZero() && t.Before(to) && n <= max; t = spec.Next(t) {
		n++
	}
	return n, nil
}
