// Package taskmaster is the engine side of loom's taskmasters: the loops
// that create tasks on their own and watch that work happens.
//
//   - The scheduler creates the runs of cron schedules (package schedule
//     decides which; this package stores the decision and submits the
//     tasks), with overlap and catch-up policies and jitter.
//   - Triggers start tasks when an event is posted or a signed webhook
//     arrives (package trigger matches and maps), and when a task of
//     another type ends (seed 003's responder).
//   - Heartbeat checks raise an alert when an outside job stops pinging.
//   - Alerts (failed tasks and flows, late schedules and checks, queue
//     backlog, open breakers) are deduplicated per condition and delivered
//     to webhook notifiers with retries and a delivery log.
//   - The wait task type parks a task or flow step until a signal arrives
//     or a timer runs out, without holding a worker.
//   - Backfills create a schedule's runs for a past range at a bounded rate.
//
// Every task a taskmaster creates carries an idempotency key derived from
// what caused it (a schedule's scheduled time, an event, a log sequence
// number), and every loop stores its progress after acting. A crash
// between the two makes the loop repeat a decision whose tasks the store
// then refuses as duplicates: nothing is lost and nothing is doubled.
// Time comes from the injected loom.Clock, so tests need no sleeping.
package taskmaster
