package store

import "time"

// MinTime and MaxTime bound the times loom accepts from its callers for a
// store to keep (a task's run_at and expiry, a backfill's range): the
// SQLite store keeps a time as int64 nanoseconds since 1970, which end in
// April 2262. A time outside [MinTime, MaxTime] is refused where it comes
// in rather than wrapped into another century on the way to the database.
var (
	// MinTime is 1970-01-01T00:00:00Z.
	MinTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	// MaxTime is 2262-01-01T00:00:00Z.
	MaxTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

// InTimeRange reports whether t is within [MinTime, MaxTime].
func InTimeRange(t time.Time) bool {
	return !t.Before(MinTime) && !t.After(MaxTime)
}
