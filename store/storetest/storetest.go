// Package storetest is the conformance suite of store.Store: every backend
// runs it against a real database, so that the engine can rely on the same
// behaviour from each. It pins down what the interface's documentation
// leaves to interpretation; see Run.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// Run runs the conformance suite against the Store newStore returns.
// newStore is called once per subtest and must return an empty store that
// is closed when t ends (with t.Cleanup); subtests run in parallel, so
// the stores they get must not share data.
//
// Beyond the interface's documentation the suite expects:
//   - event types "created", "started", "completed", "failed", "retrying"
//     (a pending outcome), "cancelled", "retried" (RetryTask), "expired"
//     and "requeued" (ReapTasks), "key_released" (ReleaseTaskKey);
//   - RetryTask keeps Attempt counting and sets MaxAttempts to Attempt
//     plus the fresh budget, so that attempt numbers stay unique;
//   - ListTasks' CreatedAfter and CreatedBefore are exclusive bounds;
//   - ClaimTasks starts nothing from a paused queue and honours a queue's
//     Concurrency like MaxRunning;
//   - a Timeout or LeaseUntil lapses at the instant it names;
//   - a non-empty Actor of InsertTasks, CancelTask and RetryTask is the
//     "actor" of their events' Data;
//   - a lapsed lease's event is "requeued" (or "failed" for a crash
//     loop), with a Msg that says the lease expired;
//   - an Outcome's Started and Ended replace the claim's and Now, and one
//     naming a WorkerID applies only while that worker holds the attempt;
//   - a brief claim returns the tasks' Attributes;
//   - SetProgress changes only running attempts, appends no event, and a
//     claim clears the progress of the attempt before.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	for _, g := range []struct {
		name  string
		tests []test
	}{
		{"Tasks", taskTests},
		{"Claim", claimTests},
		{"Finish", finishTests},
		{"Lifecycle", lifecycleTests},
		{"Runs", runTests},
		{"Events", eventTests},
		{"Logs", logTests},
		{"Queues", queueTests},
		{"Stats", statsTests},
		{"Workers", workerTests},
		{"RunState", runStateTests},
		{"Idempotency", idempotencyTests},
		{"Actors", actorTests},
		{"Prune", pruneTests},
		{"Progress", progressTests},
	} {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, newStore(t))
				})
			}
		})
	}
}

type test struct {
	name string
	run  func(t *testing.T, s store.Store)
}

// base is the suite's clock: every time is base plus an offset.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return base.Add(d) }

func ctx(t *testing.T) context.Context { return t.Context() }

func newTask(typ string) *loom.TaskInfo { return &loom.TaskInfo{Type: typ} }

// insert creates tasks at base and returns them as created.
func insert(t *testing.T, s store.Store, tasks ...*loom.TaskInfo) []*loom.TaskInfo {
	t.Helper()
	return insertAt(t, s, base, tasks...)
}

func insertAt(t *testing.T, s store.Store, now time.Time, tasks ...*loom.TaskInfo) []*loom.TaskInfo {
	t.Helper()
	res, err := s.InsertTasks(ctx(t), &store.InsertTasksParams{Tasks: tasks, Now: now})
	require.NoError(t, err)
	require.Len(t, res, len(tasks))
	out := make([]*loom.TaskInfo, len(res))
	for i, r := range res {
		require.False(t, r.Existing, "task %d already existed", i)
		out[i] = r.Task
	}
	return out
}

// insertN creates n tasks of type typ in queue.
func insertN(t *testing.T, s store.Store, n int, queue string) []*loom.TaskInfo {
	t.Helper()
	tasks := make([]*loom.TaskInfo, n)
	for i := range tasks {
		tasks[i] = &loom.TaskInfo{Type: "job", Queue: queue}
	}
	return insert(t, s, tasks...)
}

func claim(t *testing.T, s store.Store, queue string, limit int, now time.Time) []*loom.TaskInfo {
	t.Helper()
	got, err := s.ClaimTasks(ctx(t), &store.ClaimTasksParams{
		Queue: queue, Limit: limit, WorkerID: "w1", Now: now, LeaseUntil: now.Add(time.Minute),
	})
	require.NoError(t, err)
	return got
}

// claimOne claims the single task of queue.
func claimOne(t *testing.T, s store.Store, queue string, now time.Time) *loom.TaskInfo {
	t.Helper()
	got := claim(t, s, queue, 1, now)
	require.Len(t, got, 1)
	return got[0]
}

func finish(t *testing.T, s store.Store, now time.Time, outcomes ...store.Outcome) []store.FinishResult {
	t.Helper()
	res, err := s.FinishTasks(ctx(t), &store.FinishTasksParams{Outcomes: outcomes, Now: now})
	require.NoError(t, err)
	require.Len(t, res, len(outcomes))
	return res
}

func get(t *testing.T, s store.Store, id string) *loom.TaskInfo {
	t.Helper()
	task, err := s.GetTask(ctx(t), id)
	require.NoError(t, err)
	return task
}

func ids(tasks []*loom.TaskInfo) []string {
	out := make([]string, len(tasks))
	for i, t := range tasks {
		out[i] = t.ID
	}
	return out
}

func requireTime(t *testing.T, want, got time.Time, what string) {
	t.Helper()
	require.Truef(t, want.Equal(got), "%s: want %s, got %s", what, want, got)
}

func requireTimePtr(t *testing.T, want time.Time, got *time.Time, what string) {
	t.Helper()
	require.NotNil(t, got, "%s is nil", what)
	require.True(t, want.Equal(*got), "%s: want %s, got %s", what, want, *got)
}

func eventTypes(t *testing.T, s store.Store, taskID string) []string {
	t.Helper()
	evs, err := s.ListEvents(ctx(t), &store.ListEventsParams{TaskID: taskID})
	require.NoError(t, err)
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }
