// Package engine is loom's durable runtime: it keeps every task in a
// store.Store, moves ready tasks to workers over a bus.Bus, records their
// outcomes exactly once per attempt, retries them by their task type's
// RetryPolicy, advances flows step by step, and re-queues or fails tasks
// whose worker vanished or whose time ran out.
//
// The life of a task:
//
//	Submit -> store (pending) -> dispatcher claims a batch (running, leased)
//	       -> bus: one Publish per batch to the task's queue
//	       -> worker receives as many as it has idle slots, runs the
//	          handlers, publishes each done task, acknowledges the ready one
//	       -> the engine takes done tasks off the bus in batches and records
//	          them in one store call (completed, failed, or pending again
//	          with a RunAt for the next attempt), then acknowledges them
//	       -> waiters and flows are told; the dispatcher wakes for retries
//
// A flow's next step that this engine can run at once skips the first
// two: the flow advancer creates it already claimed and leased to this
// engine (store.InsertTasksParams.Claimed) and publishes it itself, so a
// step of a linear flow costs two store transactions, its creation and
// its outcome.
//
// Nothing is polled on the hot path: a submit wakes the dispatcher through
// a channel, the in-process bus wakes a waiting worker the same way,
// retries and scheduled tasks wake the dispatcher with a timer at the
// store's NextRunAt, and an idle engine does no work but a slow safety
// poll and the reaper.
//
// # Delivery
//
// The bus delivers at least once; the store settles each (task id, attempt)
// once: a result for an attempt that no longer runs (the task was
// cancelled, expired, or re-queued after its lease lapsed) is not applied,
// so a duplicated ready or done message changes nothing. The engine that
// claimed an attempt holds its lease and extends it while it lives; a
// worker that vanishes with a task is noticed by the bus, which hands the
// task to another worker of the group after the AckWait; an engine that
// vanishes stops extending its leases, and any engine's reaper re-queues
// its tasks. Tasks the bus lost with a process are therefore published
// again, and nothing is lost when any one process is killed.
//
// A healthy process never starts a live attempt twice: while a handler
// runs, its worker extends the bus delivery (bus.Delivery.InProgress) and
// its engine the lease, however long the handler takes. An attempt counts
// when its handler starts: embedded workers tell the engine, which tells
// the store with its next outcomes (store.FinishTasksParams.Started). An
// attempt claimed but never started, handed back at shutdown or lost with
// its engine, gives its attempt number back; a started attempt that loses
// its lease without a result is a lost run, and a task that loses
// Config.MaxLeaseExpiries runs (a crash loop) fails.
//
// # Workers elsewhere
//
// The engine runs an embedded Worker on its queues (Config.Workers). Other
// processes and machines run a Worker of their own (NewWorker) on a bus
// shared with the engine (bus/nats or bus/redis on a server they all
// reach, or bus/file, a directory on one machine): mark their
// queues External in the engine's Config so that the embedded worker
// leaves them alone and tasks of types only those workers know are
// accepted. A worker in any language takes part the same way, speaking
// the seed-003 task object in JSON:
//
//   - consume the queue in consumer group "workers" (bus.DefaultGroup);
//   - a ready message carries id, type, queue, attempt, max_attempts,
//     priority, info, input (a JSON object), created, timeout (the task's
//     deadline) and lease;
//   - when done, publish the same object to the done stream with result
//     "complete" (and output, a JSON object) or "error" (and msg, the
//     error's text; permanent: true when no retry can help), plus started
//     and ended; keep id, attempt and lease unchanged;
//   - then acknowledge the ready message. A worker that crashes before
//     that gets its task delivered again, to itself or another worker;
//     one whose handler may outlast the AckWait tells the bus it is still
//     working on the message meanwhile, as Worker does (InProgress).
//
// Engines take done messages in consumer group "engine" (ResultGroup);
// taskmasters that react to finished work listen in groups of their own.
// Cancelling a task stops its handler on an embedded worker at once; a
// worker elsewhere is not told, and its result is simply not recorded.
//
// # Flows
//
// A flow (a Task whose Handler is a *loom.Flow) runs as a parent task whose
// steps are child tasks, created as they become ready. The parent's state
// is a pure function of its children's, so an engine that restarts on the
// same store resumes every running flow from where it stopped without
// re-running completed steps. Between restarts the engine keeps each
// running flow's state in memory and updates it from the steps that end,
// so advancing a flow costs the steps that changed, not its length.
//
// A step with a FanOut is a parent task too: each item of its list is a
// child task of the step's task type (named step[k], the item in its
// input), at most Parallelism unended at a time, each retried by its own
// policy; after a crash only the items that had not completed run again.
// A flow that fails runs the Compensate tasks of its completed steps, last
// completed first, each once, as child tasks named step.compensate.
//
// DistributedExecutor puts the engine behind the loom.Executor interface,
// so code written against an in-process executor runs durably unchanged.
// It passes the executor conformance suite (loomtest/executortest) over
// every store, with the differences that suite's Capabilities state: a
// run id names one run only (a second run with it returns the first),
// compensations (Step.Compensate) do not run, and a fan-out step runs as
// one task whose items have no events of their own and run one at a
// time. Values cross JSON on the way: read them with the typed accessors
// of loom.Values (Int, Map, List...), which answer alike on every
// executor.
package engine
