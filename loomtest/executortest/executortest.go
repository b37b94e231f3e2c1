// Package executortest is the conformance suite of loom.Executor: the
// behaviour every executor must have, checked the same way on each. The
// library runs it on SyncExecutor, AsyncExecutor and ParallelExecutor, and
// the engine on its DistributedExecutor over every store. A new executor
// passes it before it is called one.
//
// The suite runs ordinary handler code and asserts through the executor's
// Result, its events (loomtest.Recorder) and the handlers' own counts, so
// it pins down what code written against loom.Executor may rely on:
// retries and backoff, the circuit breaker, timeouts, idempotency (its
// window, in-flight runs, a failure releasing or keeping the key), run
// ids, events, value round-trips, cancellation, flows, conditions,
// compensation and fan-out.
//
// Where an executor cannot (yet) behave as the others do, its Harness says
// so in Capabilities, and the subtests that need the capability are
// skipped with a message naming it: the difference is stated, never
// silent.
package executortest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/loomtest"
)

// Harness makes executors for the suite.
type Harness struct {
	// New returns an executor that emits its events on events and is ready
	// to run tasks; whatever it started is stopped when t ends. It is
	// called once per subtest, and subtests run in parallel, so the
	// executors must not share state (a store, a bus, a breaker).
	New func(t *testing.T, events *loom.EventEmitter) loom.Executor
	// Caps says which of the behaviours that not every executor has this
	// one has.
	Caps Capabilities
}

// Capabilities are the behaviours an executor may lack. The library's
// executors have every one but UniqueRunIDs; what the durable engine lacks
// is listed on each field.
type Capabilities struct {
	// UniqueRunIDs: a run started with the id of an earlier run (WithRunID)
	// does not run; it returns the earlier run's Result (waiting for it
	// while it runs). The durable engine has it, since a run id is the id
	// of its task; the library's executors run a second run under the same
	// id.
	UniqueRunIDs bool
	// StepIdempotency: a flow step whose task has Idempotency replays the
	// result of an earlier run with the same key, as a top-level run does.
	StepIdempotency bool
	// Compensation: Step.Compensate runs, in reverse order of completion,
	// when a flow fails. The durable engine does not run compensations
	// yet.
	Compensation bool
	// FanOutItemRuns: each fan-out item is a run of its own with its own
	// events (their Step the step's name and the item's index, "each[2]")
	// and its own
	// retries, and FanOut.Parallelism items run at once. The durable
	// engine runs a fan-out step as one task today: items emit no events
	// and run one at a time.
	FanOutItemRuns bool
}

// LibraryCapabilities are the capabilities of the library's own
// executors (SyncExecutor, AsyncExecutor, ParallelExecutor).
var LibraryCapabilities = Capabilities{StepIdempotency: true, Compensation: true, FanOutItemRuns: true}

// Run runs the suite against the executors h makes.
func Run(t *testing.T, h Harness) {
	t.Helper()
	for _, g := range []struct {
		name  string
		tests []test
	}{
		{"Tasks", taskTests},
		{"Idempotency", idempotencyTests},
		{"RunID", runIDTests},
		{"Events", eventTests},
		{"Values", valueTests},
		{"Flows", flowTests},
		{"FanOut", fanOutTests},
	} {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					if tc.needs != nil && !tc.needs(h.Caps) {
						t.Skipf("the executor lacks %s (executortest.Capabilities)", tc.capability)
					}
					tc.run(t, newEnv(t, h))
				})
			}
		})
	}
}

// test is one subtest: its name, the capability it needs if any, and its
// body.
type test struct {
	name       string
	capability string
	needs      func(Capabilities) bool
	run        func(t *testing.T, env *env)
}

// env is what a subtest works with: an executor and a recorder of its
// events.
type env struct {
	ex     loom.Executor
	events *loom.EventEmitter
	rec    *loomtest.Recorder
}

func newEnv(t *testing.T, h Harness) *env {
	em := loom.NewEventEmitter()
	rec := loomtest.Record(t, em)
	return &env{ex: h.New(t, em), events: em, rec: rec}
}

// waitTime bounds every wait of the suite, so that a broken executor fails
// the test instead of hanging it. It is not a timing assertion: a correct
// executor ends each run in milliseconds.
const waitTime = 30 * time.Second

// ctx returns a context that ends with the test or after waitTime.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), waitTime)
	t.Cleanup(cancel)
	return c
}

// ended waits for the event that ends run runID (completed, failed,
// cancelled, of a task or a flow), which an executor may emit after
// Execute returned, and returns it.
func (e *env) ended(t *testing.T, runID string) loom.Event {
	t.Helper()
	ev, err := e.rec.WaitFor(ctx(t), func(ev loom.Event) bool {
		if ev.RunID != runID {
			return false
		}
		switch ev.Type {
		case loom.EventTaskCompleted, loom.EventTaskFailed, loom.EventTaskCancelled,
			loom.EventFlowCompleted, loom.EventFlowFailed:
			return true
		}
		return false
	})
	if err != nil {
		t.Fatalf("no event ended run %s: %v; events: %v", runID, err, e.rec.Events())
	}
	return ev
}

// runEvents returns the types of the events of run runID so far, in
// order.
func (e *env) runEvents(runID string) []loom.EventType {
	var out []loom.EventType
	for _, ev := range e.rec.Events() {
		if ev.RunID == runID {
			out = append(out, ev.Type)
		}
	}
	return out
}

// mustRun executes task and fails the test unless the run completed.
func (e *env) mustRun(t *testing.T, task *loom.Task, in loom.Values, opts ...loom.RunOption) *loom.Result {
	t.Helper()
	res, err := e.ex.Execute(ctx(t), task, in, opts...)
	if err != nil {
		t.Fatalf("%s: %v", task.Name, err)
	}
	if res == nil || res.Status != loom.StatusCompleted {
		t.Fatalf("%s: result %+v", task.Name, res)
	}
	return res
}

// mustFail executes task and fails the test unless the run ended with a
// *loom.RunError in status want.
func (e *env) mustFail(t *testing.T, task *loom.Task, in loom.Values, want loom.Status, opts ...loom.RunOption) *loom.Result {
	t.Helper()
	res, err := e.ex.Execute(ctx(t), task, in, opts...)
	return checkFailed(t, task.Name, res, err, want)
}

func checkFailed(t *testing.T, name string, res *loom.Result, err error, want loom.Status) *loom.Result {
	t.Helper()
	var re *loom.RunError
	if !errors.As(err, &re) {
		t.Fatalf("%s: error %v (%T), want a *loom.RunError", name, err, err)
	}
	if res == nil || res.Status != want || re.Result != res {
		t.Fatalf("%s: result %+v, want status %s and the RunError's Result", name, res, want)
	}
	if res.Err == nil || res.Message == "" {
		t.Fatalf("%s: a %s result has no Err or Message: %+v", name, want, res)
	}
	return res
}
