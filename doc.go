// Package loom runs tasks and workflows that survive failure: retries with
// backoff, circuit breakers, fan-out/fan-in, idempotency keys, timeouts,
// compensation, persisted state and events, in one process or, through the
// durable engine, on workers anywhere.
//
// # Tasks
//
// A Task is a named Handler plus the policies that govern every run of it.
// A handler takes Values and returns Values or an error, like an
// http.Handler takes a request:
//
//	ingest := loom.NewTask("IngestData", loom.HandlerFunc(
//		func(ctx context.Context, in loom.Values) (loom.Values, error) {
//			src := in["data_source"].(string)
//			if src == "invalid" {
//				return nil, loom.Permanent(errors.New("invalid data source"))
//			}
//			return loom.Values{"ingested_data": "data from " + src}, nil
//		}))
//	res, err := ingest.Run(ctx, loom.Values{"data_source": "s3://bucket/raw.csv"})
//
// Run returns a Result (status, output, error message, attempts, start and
// end) and, when the run did not complete, a *RunError carrying the same
// Result and unwrapping to the last attempt's error. The error a handler
// returns steers what happens next: Permanent errors are never retried,
// RetryAfter asks for a minimum wait, anything else is retried while the
// task's RetryPolicy allows. A panicking handler fails its attempt; the
// stack goes to the executor's Logger and to the attempt's LogWriter.
// Handlers learn which attempt they are in with Attempt(ctx).
//
// # Flows
//
// A flow (the seed's CompositeTask) is a DAG of steps built with NewFlow,
// and is itself a Task, so flows nest. Each step's Requires maps the
// task's input names to flow data keys, and its Provides maps the task's
// output names to the keys it writes, exactly as in the seed:
//
//	etl, err := loom.NewFlow("ETLWorkflow", loom.FlowDef{
//		Inputs: []string{"data_source"},
//		Steps: []loom.Step{
//			{Task: ingest, Provides: map[string]string{"ingested_data": "raw_data"}},
//			{Task: clean, Requires: map[string]string{"input_data": "raw_data"},
//				Provides: map[string]string{"cleaned_data": "processed_data"}},
//			{Task: store, Requires: map[string]string{"data_to_store": "processed_data"}},
//		},
//	})
//
// A step waits for the steps providing what it requires and for those it
// names in DependsOn; nothing else orders steps. NewFlow rejects, with a
// *FlowError matching ErrInvalidFlow, a cycle ("cycle: a -> b -> a"), a
// key nothing provides, two providers of one key, duplicate or unnamed
// steps, unknown DependsOn, missing tasks or handlers and unworkable
// fan-out settings. The flow's output is the union of the provided keys.
//
// A step with an If runs only when If, given the flow inputs and the keys
// of the steps it waits for, returns true; otherwise it is SKIPPED, and so
// is every step that requires a key a skipped step would have provided (a
// skip is not a failure, and a step that only DependsOn a skipped step
// still runs). When a step fails, nothing new starts, steps not yet
// started end CANCELLED, and the flow fails.
//
// The *Flow behind the task can be inspected (Steps, Order, Inputs,
// Downstream, Step) and advanced one decision at a time: Ready says, from
// the steps ended so far, which to start, skip or cancel and whether the
// flow is done; StepInput, StepOutput and Data compute what passes between
// steps. These are pure functions, which is how the durable engine runs a
// flow's steps as separate tasks and resumes after a crash.
//
// # Executors
//
// An Executor runs tasks and flows, applying every policy the same way:
//
//   - SyncExecutor runs in the calling goroutine, a flow's steps one at a
//     time in Order;
//   - AsyncExecutor runs each task on its own goroutine: Start returns a
//     Handle at once;
//   - ParallelExecutor runs a flow's independent branches at the same
//     time, starting each step as soon as its dependencies end, at most
//     Config.Parallelism handlers at once (default 2×GOMAXPROCS).
//
// All take one Config, whose zero value is ready to use.
//
// # Retries and circuit breakers
//
// A RetryPolicy sets the attempts, the first delay, the backoff factor, a
// cap and jitter. A CircuitBreaker set on a task (one per key with
// BreakerKey) refuses attempts while its dependency is failing; a refused
// attempt counts as an attempt, and the retry policy waits out the
// breaker's cool-down before the next. Breaker state changes are emitted
// as events.
//
// # Fan-out and fan-in
//
// A step with a FanOut maps its task over a list found at run time, each
// item a run of its own with the task's policies, at most
// FanOut.Parallelism at a time. FailFast stops at the first failure;
// CollectAndContinue completes with results, errors and a failure count,
// which a later step requires to fan in.
//
// # Idempotency
//
// A task with Idempotency (or a run given WithIdempotencyKey) runs at most
// once per key. Three settings answer three questions: Window, how long a
// completed result is replayed to later runs (Result.Replayed); LockTTL,
// how long an in-flight run holds its key while duplicates wait for it;
// OnFailure, whether a failure releases the key (the default) or is kept
// and replayed like a success.
//
// # Timeouts, cancellation and compensation
//
// Task.Timeout bounds each attempt; on a flow's task it bounds the whole
// flow. A timed-out attempt fails with an error matching ErrTimeout and may
// be retried. Cancelling the context cancels the run: its status is
// CANCELLED and its error matches ErrCancelled. When a flow fails or is
// cancelled, the Compensate tasks of its completed steps run, last
// completed first, each given its step's inputs merged with its outputs; a
// failing compensation is reported (in Result.Steps as "<step>.compensate"
// and in a flow.compensated event) and does not stop the others.
//
// # State and events
//
// Executors record every run, and every flow step's move from PENDING to
// RUNNING to its end with attempts and times, through a StateManager
// (Config.State; MemoryState in memory, the engine's store durably).
// Everything that happens is also an Event: task.started for each attempt,
// task.retrying, task.completed, task.failed, task.cancelled,
// task.skipped, task.replayed, flow.started, flow.completed, flow.failed,
// flow.compensated and breaker changes, delivered by an EventEmitter.
//
// # Testing
//
// Package loomtest provides a FakeClock that makes backoff, timeouts and
// breaker cool-downs pass in milliseconds, a Recorder of events, and
// canned handlers.
package loom
