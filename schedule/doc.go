// Package schedule is the pure logic of loom's cron taskmaster: parsing
// schedule expressions, computing fire times across time zones and DST, and
// deciding, on each tick of the engine, which runs of a schedule to create
// (catch-up after downtime, overlap with runs still going, jitter) and which
// periods a backfill covers.
//
// Nothing here reads the clock, sleeps or does I/O: the engine passes "now"
// and what it has stored (the schedule's cursor, how many of its runs are
// active) and persists what Plan returns. Every fire carries a dedup key
// derived from the schedule name and the scheduled time, so that a restart,
// a second engine, or a repeated backfill neither loses nor doubles a run.
package schedule
