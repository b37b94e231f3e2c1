package schedule

import (
	"fmt"
	"slices"
	"time"
)

// MaxSkipsReported bounds Decision.Skipped; a schedule every second that
// was down for a month would otherwise report millions of times.
const MaxSkipsReported = 100

// maxEnumerate bounds the fire times one call walks through, so that no
// expression, however dense, makes a decision slow.
const maxEnumerate = 100_000

// SkipReason says why a scheduled time got no run.
type SkipReason string

const (
	// SkipMissed: the time passed during downtime and the catch-up policy
	// (or its limit) dropped it.
	SkipMissed SkipReason = "missed"
	// SkipOverlap: OverlapSkip dropped it because a run was active.
	SkipOverlap SkipReason = "overlap"
	// SkipPaused: the schedule was paused.
	SkipPaused SkipReason = "paused"
)

// Skip is a scheduled time that got no run, for events, logs and the UI.
type Skip struct {
	// Scheduled is the time that got no run, in UTC.
	Scheduled time.Time `json:"scheduled"`
	// Reason is why.
	Reason SkipReason `json:"reason"`
}

// Decision is what Plan tells the engine to do on one tick.
type Decision struct {
	// Fires are the runs to create now, oldest first, in one transaction
	// with storing Cursor.
	Fires []Fire `json:"fires,omitempty"`
	// Skipped are the most recent scheduled times (at most
	// MaxSkipsReported, oldest first) that got no run, with the reason.
	Skipped []Skip `json:"skipped,omitempty"`
	// SkippedMore is set when older skipped times exist beyond Skipped.
	SkippedMore bool `json:"skipped_more,omitempty"`
	// Cursor is the newest scheduled time this decision accounted for
	// (fired or skipped), in UTC. The engine stores it and passes it as
	// last on the next tick; it never moves backwards.
	Cursor time.Time `json:"cursor"`
	// Next is the first scheduled time after Cursor: when the engine needs
	// to call Plan again, and what the UI shows as "next run".
	Next time.Time `json:"next"`
}

// Plan decides which runs schedule s creates at time now. The engine calls
// it on each tick (any cadence; it needs no timer per schedule) with:
//
//   - last: the Cursor of the previous decision, as stored. Zero means a
//     new schedule: nothing before now is due, and the cursor starts at now
//     (which anchors the grid of an `@every` schedule).
//   - now: the engine clock's time.
//   - active: how many runs of s exist and have not finished (queued or
//     running), as the store counts them.
//
// A scheduled time in (last, now] is on time when it is at most s.Grace old
// and missed otherwise. On-time times fire; missed ones follow s.CatchUp:
// SkipMissed drops them, RunOnce fires the most recent one when nothing is
// on time (one run standing for the outage), RunAll fires the most recent
// CatchUp.Limit of them. Recent rather than oldest, because after an outage
// the fresh periods matter most and an explicit Backfill recovers the rest.
// Then s.Overlap applies: Skip keeps only the newest run and none at all
// while active > 0; Queue marks runs Queued that must wait; Allow keeps all.
//
// The decision depends only on its arguments, and each fire's Key only on
// the schedule's name and the scheduled time, so an engine that crashes
// after creating the tasks but before storing Cursor repeats the same
// decision and its store rejects the duplicates: no run lost, none doubled.
func Plan(s Schedule, last, now time.Time, active int) (Decision, error) {
	if err := s.Validate(); err != nil {
		return Decision{}, fmt.Errorf("plan: %w", err)
	}
	spec, err := s.Spec()
	if err != nil {
		return Decision{}, fmt.Errorf("plan: %w", err)
	}
	s = s.withDefaults()
	now = now.UTC()
	if last.IsZero() {
		cursor := now.Truncate(time.Second)
		return Decision{Cursor: cursor, Next: spec.Next(cursor).UTC()}, nil
	}
	last = last.UTC()
	if !now.After(last) {
		return Decision{Cursor: last, Next: spec.Next(last).UTC()}, nil
	}

	graceStart := now.Add(-s.Grace)
	if graceStart.Before(last) {
		graceStart = last
	}
	onTime, _ := recentDue(spec, last, graceStart, now, maxEnumerate)
	keep := MaxSkipsReported + 1
	if s.CatchUp.Mode == CatchUpRunAll {
		keep += s.CatchUp.Limit
	}
	missed, more := recentDue(spec, last, last, graceStart, keep)

	d := Decision{Cursor: last, SkippedMore: more}
	if n := len(onTime); n > 0 {
		d.Cursor = onTime[n-1]
	} else if n := len(missed); n > 0 {
		d.Cursor = missed[n-1]
	}
	d.Next = spec.Next(d.Cursor).UTC()

	if s.Paused {
		d.skip(SkipPaused, missed...)
		d.skip(SkipPaused, onTime...)
		d.trimSkipped()
		return d, nil
	}

	var fires []Fire
	catchUp := func(times []time.Time) {
		for _, t := range times {
			f := newFire(s, t)
			f.CatchUp = true
			fires = append(fires, f)
		}
	}
	switch s.CatchUp.Mode {
	case CatchUpSkipMissed:
		d.skip(SkipMissed, missed...)
	case CatchUpRunOnce:
		if n := len(missed); n > 0 && len(onTime) == 0 {
			d.skip(SkipMissed, missed[:n-1]...)
			catchUp(missed[n-1:])
		} else {
			d.skip(SkipMissed, missed...)
		}
	case CatchUpRunAll:
		cut := max(len(missed)-s.CatchUp.Limit, 0)
		d.skip(SkipMissed, missed[:cut]...)
		catchUp(missed[cut:])
	}
	for _, t := range onTime {
		fires = append(fires, newFire(s, t))
	}

	switch s.Overlap {
	case OverlapSkip:
		keepFrom := len(fires) - 1
		if active > 0 {
			keepFrom = len(fires)
		}
		for _, f := range fires[:max(keepFrom, 0)] {
			d.skip(SkipOverlap, f.Scheduled)
		}
		fires = fires[max(keepFrom, 0):]
	case OverlapQueue:
		for i := range fires {
			fires[i].Queued = active > 0 || i > 0
		}
	case OverlapAllow:
	}
	d.Fires = fires
	d.trimSkipped()
	return d, nil
}

func (d *Decision) skip(reason SkipReason, times ...time.Time) {
	for _, t := range times {
		d.Skipped = append(d.Skipped, Skip{Scheduled: t.UTC(), Reason: reason})
	}
}

// trimSkipped sorts Skipped oldest first and keeps the most recent
// MaxSkipsReported.
func (d *Decision) trimSkipped() {
	slices.SortStableFunc(d.Skipped, func(a, b Skip) int { return a.Scheduled.Compare(b.Scheduled) })
	if n := len(d.Skipped); n > MaxSkipsReported {
		d.Skipped = slices.Clone(d.Skipped[n-MaxSkipsReported:])
		d.SkippedMore = true
	}
}

// Upcoming returns the next n scheduled times after now, in UTC, as Plan
// will see them given the stored cursor last (zero for a new schedule):
// what the UI lists as a schedule's next runs. It ignores Paused.
func (s Schedule) Upcoming(last, now time.Time, n int) ([]time.Time, error) {
	spec, err := s.Spec()
	if err != nil {
		return nil, fmt.Errorf("upcoming: %w", err)
	}
	from := now
	if d := spec.Every(); d > 0 {
		anchor := last
		if anchor.IsZero() || anchor.After(now) {
			anchor = now.Truncate(time.Second)
		}
		from = anchor.Add(now.Sub(anchor) / d * d)
	}
	times := spec.NextN(from, n)
	for i := range times {
		times[i] = times[i].UTC()
	}
	return times, nil
}

// recentDue returns the most recent k scheduled times in (lo, hi], oldest
// first, and whether older ones in the range were left out. An `@every`
// grid is anchored at anchor (the cursor); cron times are absolute.
func recentDue(spec *Spec, anchor, lo, hi time.Time, k int) ([]time.Time, bool) {
	if !hi.After(lo) || k <= 0 {
		return nil, false
	}
	if d := spec.Every(); d > 0 {
		first := lo.Sub(anchor)/d + 1 // first multiple of d after lo
		lastN := hi.Sub(anchor) / d   // last multiple of d at or before hi
		if lastN < first {
			return nil, false
		}
		from := max(first, lastN-time.Duration(k)+1)
		out := make([]time.Time, 0, int(lastN-from)+1)
		for i := from; i <= lastN; i++ {
			out = append(out, anchor.Add(i*d).UTC())
		}
		return out, from > first
	}
	// Widen a window back from hi until it holds more than k times or
	// reaches lo; the walk costs about what the answer holds.
	for w := time.Minute; ; w *= 2 {
		start := lo
		if hi.Sub(lo) > w {
			start = hi.Add(-w)
		}
		var ring []time.Time
		count, walked := 0, 0
		for t := spec.Next(start); !t.IsZero() && !t.After(hi) && walked < maxEnumerate; t = spec.Next(t) {
			walked++
			count++
			ring = append(ring, t.UTC())
			if len(ring) > 2*k {
				ring = slices.Delete(ring, 0, len(ring)-k)
			}
		}
		if count > k || start.Equal(lo) || walked >= maxEnumerate {
			if len(ring) > k {
				ring = ring[len(ring)-k:]
			}
			return slices.Clone(ring), count > k || !start.Equal(lo)
		}
	}
}
