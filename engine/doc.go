// Package engine is loom's durable runtime: it keeps every task in a
// store.Store, moves ready tasks to workers, records their outcomes
// exactly once per attempt, retries them by their task type's RetryPolicy,
// advances flows step by step, and re-queues or fails tasks whose worker
// vanished or whose time ran out.
//
// The life of a task:
//
//	Submit -> store (pending) -> dispatcher claims a batch (running, leased)
//	       -> worker runs the handler, heart-beating the lease
//	       -> completer records outcomes in batches (completed, failed, or
//	          pending again with a RunAt for the next attempt)
//	       -> waiters and flows are told; the dispatcher wakes for retries
//
// Nothing is polled on the hot path: a submit wakes the dispatcher through
// a channel, retries and scheduled tasks wake it with a timer at the
// store's NextRunAt, and an idle engine does no work but a slow safety
// poll and the reaper.
//
// A flow (a Task whose Handler is a *loom.Flow) runs as a parent task whose
// steps are child tasks, created as they become ready. The parent's state
// is a pure function of its children's, so an engine that restarts on the
// same store resumes every running flow from where it stopped without
// re-running completed steps.
//
// DistributedExecutor puts the engine behind the loom.Executor interface,
// so code written against an in-process executor runs durably unchanged.
package engine
