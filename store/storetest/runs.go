package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// markStarted marks attempts started and requires that each was.
func markStarted(t *testing.T, s store.Store, leases ...store.Lease) {
	t.Helper()
	res, err := s.MarkStarted(ctx(t), &store.MarkStartedParams{Leases: leases})
	require.NoError(t, err)
	require.Len(t, res, len(leases))
	for _, r := range res {
		require.True(t, r.Extended, "attempt %d of %s not marked started", r.Attempt, r.ID)
	}
}

// runTests pin down how attempts count runs rather than claims: an
// attempt released unstarted or lapsing unmarked gives its number back,
// and started attempts that keep losing their lease end the task.
var runTests = []test{
	{"ReleaseUnstarted", func(t *testing.T, s store.Store) {
		task := insert(t, s, &loom.TaskInfo{Type: "job", MaxAttempts: 1})[0]
		claimOne(t, s, loom.DefaultQueue, base)
		res := finish(t, s, at(time.Second), store.Outcome{ID: task.ID, Attempt: 1, Status: loom.StatusPending, Unstarted: true, Msg: "released"})
		require.True(t, res[0].Applied)
		got := get(t, s, task.ID)
		require.Equal(t, loom.StatusPending, got.Status)
		require.Equal(t, 0, got.Attempt, "the unstarted attempt gave its number back")
		require.Equal(t, 1, claimOne(t, s, loom.DefaultQueue, at(time.Second)).Attempt)
		// Only a pending outcome can be unstarted.
		_, err := s.FinishTasks(ctx(t), &store.FinishTasksParams{Now: at(2 * time.Second), Outcomes: []store.Outcome{
			{ID: task.ID, Attempt: 1, Status: loom.StatusFailed, Unstarted: true},
		}})
		require.ErrorIs(t, err, store.ErrInvalid)
		requireCountsMatch(t, s)
	}},
	{"MarkStarted", func(t *testing.T, s store.Store) {
		task := insert(t, s, newTask("job"))[0]
		idle := insert(t, s, &loom.TaskInfo{Type: "job", Queue: "idle"})[0]
		claimOne(t, s, loom.DefaultQueue, base)
		res, err := s.MarkStarted(ctx(t), &store.MarkStartedParams{Leases: []store.Lease{
			{ID: task.ID, Attempt: 2}, // not this attempt
			{ID: idle.ID, Attempt: 1}, // not running
			{ID: "no-such-task", Attempt: 1},
			{ID: task.ID, Attempt: 1},
		}})
		require.NoError(t, err)
		require.Len(t, res, 4)
		require.Equal(t, []bool{false, false, false, true}, []bool{res[0].Extended, res[1].Extended, res[2].Extended, res[3].Extended})
		require.Equal(t, loom.StatusRunning, res[0].Status)
		require.Equal(t, loom.StatusPending, res[1].Status)
		// Another worker's claim is not marked by a WorkerID that is not its.
		res, err = s.MarkStarted(ctx(t), &store.MarkStartedParams{Leases: []store.Lease{{ID: task.ID, Attempt: 1}}, WorkerID: "w2"})
		require.NoError(t, err)
		require.False(t, res[0].Extended)
		res, err = s.MarkStarted(ctx(t), &store.MarkStartedParams{Leases: []store.Lease{{ID: task.ID, Attempt: 1}}, WorkerID: "w1"})
		require.NoError(t, err)
		require.True(t, res[0].Extended)
	}},
	{"ExtendLeasesWorkerID", func(t *testing.T, s store.Store) {
		task := insert(t, s, newTask("job"))[0]
		claimOne(t, s, loom.DefaultQueue, base) // by w1
		res, err := s.ExtendLeases(ctx(t), &store.ExtendLeasesParams{
			Leases: []store.Lease{{ID: task.ID, Attempt: 1}}, LeaseUntil: at(time.Hour), WorkerID: "w2",
		})
		require.NoError(t, err)
		require.False(t, res[0].Extended, "extended by a worker that did not claim it")
		res, err = s.ExtendLeases(ctx(t), &store.ExtendLeasesParams{
			Leases: []store.Lease{{ID: task.ID, Attempt: 1}}, LeaseUntil: at(time.Hour), WorkerID: "w1",
		})
		require.NoError(t, err)
		require.True(t, res[0].Extended)
		requireTimePtr(t, at(time.Hour), get(t, s, task.ID).LeaseUntil, "LeaseUntil")
	}},
	{"LapseUnstarted", func(t *testing.T, s store.Store) {
		// A batch claimed by a worker that died before starting any: every
		// task comes back with its budget intact, however often it happens.
		tasks := insertN(t, s, 3, "batch")
		for round := 1; round <= 5; round++ {
			now := at(time.Duration(round) * time.Hour)
			claimed := claim(t, s, "batch", 10, now)
			require.Len(t, claimed, 3)
			for _, c := range claimed {
				require.Equal(t, 1, c.Attempt, "round %d", round)
			}
			res, err := s.ReapTasks(ctx(t), &store.ReapTasksParams{Now: now.Add(time.Minute), MaxLostRuns: 2})
			require.NoError(t, err)
			require.Len(t, res.Requeued, 3)
			require.Empty(t, res.Lost)
			require.Len(t, res.Lapsed, 3)
		}
		for _, task := range tasks {
			got := get(t, s, task.ID)
			require.Equal(t, loom.StatusPending, got.Status)
			require.Equal(t, 0, got.Attempt)
			require.Equal(t, 5, got.LeaseExpiries)
		}
		evs, err := s.ListEvents(ctx(t), &store.ListEventsParams{TaskID: tasks[0].ID})
		require.NoError(t, err)
		last := evs[len(evs)-1]
		require.Equal(t, "requeued", last.Type)
		require.Equal(t, 1, last.Attempt)
		require.Contains(t, last.Msg, "lease expired before the start of attempt 1 was recorded")
		requireCountsMatch(t, s)
	}},
	{"CrashLoop", func(t *testing.T, s store.Store) {
		// Every started attempt loses its lease: the task fails at the
		// third, with a message that says why.
		task := insert(t, s, &loom.TaskInfo{Type: "job", Queue: "crash", MaxAttempts: 1})[0]
		for n := 1; n <= 3; n++ {
			now := at(time.Duration(n) * time.Hour)
			c := claimOne(t, s, "crash", now)
			require.Equal(t, n, c.Attempt, "a started run counts")
			require.Equal(t, n-1, c.LeaseExpiries)
			markStarted(t, s, store.Lease{ID: task.ID, Attempt: n})
			res, err := s.ReapTasks(ctx(t), &store.ReapTasksParams{Now: now.Add(time.Minute), MaxLostRuns: 3})
			require.NoError(t, err)
			require.Equal(t, []store.Lease{{ID: task.ID, Attempt: n}}, res.Lapsed)
			if n < 3 {
				require.Equal(t, []string{task.ID}, ids(res.Requeued))
				require.Empty(t, res.Lost)
				continue
			}
			require.Empty(t, res.Requeued)
			require.Equal(t, []string{task.ID}, ids(res.Lost))
		}
		got := get(t, s, task.ID)
		require.Equal(t, loom.StatusFailed, got.Status)
		require.Equal(t, loom.ResultError, got.Result)
		require.Equal(t, store.LostRunsMsg(3), got.Msg)
		require.Contains(t, got.Msg, "lease expired 3 times")
		require.Equal(t, 3, got.Attempt)
		require.Equal(t, 3, got.LeaseExpiries)
		requireTimePtr(t, at(3*time.Hour+time.Minute), got.Ended, "Ended")
		evs, err := s.ListEvents(ctx(t), &store.ListEventsParams{TaskID: task.ID})
		require.NoError(t, err)
		var msgs []string
		for _, e := range evs {
			if e.Type == "requeued" || e.Type == "failed" {
				require.Contains(t, e.Msg, "lease expired")
				msgs = append(msgs, e.Type)
			}
		}
		require.Equal(t, []string{"requeued", "requeued", "failed"}, msgs)
		requireCountsMatch(t, s)

		// A retry by hand renews the budget of lost runs.
		_, err = s.RetryTask(ctx(t), &store.RetryTaskParams{ID: task.ID, Now: at(4 * time.Hour)})
		require.NoError(t, err)
		claimOne(t, s, "crash", at(4*time.Hour))
		markStarted(t, s, store.Lease{ID: task.ID, Attempt: 4})
		res, err := s.ReapTasks(ctx(t), &store.ReapTasksParams{Now: at(5 * time.Hour), MaxLostRuns: 3})
		require.NoError(t, err)
		require.Equal(t, []string{task.ID}, ids(res.Requeued))
	}},
	{"FinishMarksStarted", func(t *testing.T, s store.Store) {
		tasks := insertN(t, s, 2, loom.DefaultQueue)
		claim(t, s, loom.DefaultQueue, 2, base)
		_, err := s.FinishTasks(ctx(t), &store.FinishTasksParams{Now: at(time.Second),
			Outcomes: []store.Outcome{{ID: tasks[0].ID, Attempt: 1, Status: loom.StatusCompleted}},
			Started:  []store.Lease{{ID: tasks[1].ID, Attempt: 1}},
		})
		require.NoError(t, err)
		// Only outcomes to mark: marked all the same.
		other := insert(t, s, &loom.TaskInfo{Type: "job", Queue: "other"})[0]
		claimOne(t, s, "other", base)
		res, err := s.FinishTasks(ctx(t), &store.FinishTasksParams{Now: at(time.Second), Started: []store.Lease{{ID: other.ID, Attempt: 1}}})
		require.NoError(t, err)
		require.Empty(t, res)
		reaped, err := s.ReapTasks(ctx(t), &store.ReapTasksParams{Now: at(time.Hour), MaxLostRuns: 5})
		require.NoError(t, err)
		require.ElementsMatch(t, []string{tasks[1].ID, other.ID}, ids(reaped.Requeued))
		for _, id := range []string{tasks[1].ID, other.ID} {
			got := get(t, s, id)
			require.Equal(t, 1, got.Attempt, "a marked attempt that lapsed counts")
			evs, err := s.ListEvents(ctx(t), &store.ListEventsParams{TaskID: id})
			require.NoError(t, err)
			require.Contains(t, evs[len(evs)-1].Msg, "lease expired while attempt 1 ran")
		}
	}},
	{"NoLostRunsLimit", func(t *testing.T, s store.Store) {
		task := insert(t, s, newTask("job"))[0]
		for n := 1; n <= 4; n++ {
			now := at(time.Duration(n) * time.Hour)
			claimOne(t, s, loom.DefaultQueue, now)
			markStarted(t, s, store.Lease{ID: task.ID, Attempt: n})
			res, err := s.ReapTasks(ctx(t), &store.ReapTasksParams{Now: now.Add(time.Minute)})
			require.NoError(t, err)
			require.Equal(t, []string{task.ID}, ids(res.Requeued))
		}
		require.Equal(t, 4, get(t, s, task.ID).LeaseExpiries)
	}},
}
