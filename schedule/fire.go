package schedule

import (
	"hash/fnv"
	"time"
)

// Fire is one run a schedule asks the engine to create.
type Fire struct {
	// Schedule is the name of the schedule that fired.
	Schedule string `json:"schedule"`
	// Scheduled is the time the run stands for, in UTC: the period it
	// covers, and with the name its identity.
	Scheduled time.Time `json:"scheduled"`
	// Due is when the run may start: Scheduled plus the schedule's
	// deterministic jitter. The engine creates the task at once and holds
	// it until Due (a missed time's Due is usually already past).
	Due time.Time `json:"due"`
	// Key is the dedup key (see Key). The engine creates at most one task
	// per key, which is what makes restarts and repeated backfills safe.
	Key string `json:"key"`
	// Queued is set under OverlapQueue when the run must wait until every
	// earlier run of the schedule has finished; the engine starts queued
	// runs one at a time, in Scheduled order.
	Queued bool `json:"queued,omitempty"`
	// CatchUp marks a run created for a time missed during downtime.
	CatchUp bool `json:"catch_up,omitempty"`
	// Backfill marks a run created by Backfill.
	Backfill bool `json:"backfill,omitempty"`
}

// Key is the dedup key of schedule name's run for scheduled time t:
// "<name>@<t in RFC 3339, UTC>", as in "nightly@2026-03-29T01:30:00Z". It
// depends on nothing else, so a regular fire, a catch-up and a backfill of
// the same period share it.
func Key(name string, t time.Time) string {
	return name + "@" + t.UTC().Format(time.RFC3339Nano)
}

// JitterFor is the delay Fire.Due adds to scheduled time t of schedule
// name: a hash of the pair taken modulo max, so it lies in [0, max), is
// spread evenly across schedules and periods, and is the same on every
// machine and every retry of the decision. max <= 0 means no delay.
func JitterFor(name string, t time.Time, max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(Key(name, t)))
	return time.Duration(h.Sum64() % uint64(max))
}

// newFire builds the fire of schedule s for scheduled time t.
func newFire(s Schedule, t time.Time) Fire {
	t = t.UTC()
	return Fire{
		Schedule:  s.Name,
		Scheduled: t,
		Due:       t.Add(JitterFor(s.Name, t, s.Jitter)),
		Key:       Key(s.Name, t),
	}
}
