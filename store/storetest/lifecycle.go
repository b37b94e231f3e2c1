package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

var lifecycleTests = []test{
	{"CancelCascades", func(t *testing.T, s store.Store) {
		flow := insert(t, s, newTask("flow"))[0]
		step := insert(t, s, &loom.TaskInfo{Type: "step", ParentID: flow.ID, Step: "a", Queue: "steps"})[0]
		done := insert(t, s, &loom.TaskInfo{Type: "step", ParentID: flow.ID, Step: "b", Queue: "done"})[0]
		grandchild := insert(t, s, &loom.TaskInfo{Type: "sub", ParentID: step.ID, Step: "x"})[0]
		unrelated := insert(t, s, newTask("other"))[0]
		claimOne(t, s, "steps", base)
		claimOne(t, s, "done", base)
		finish(t, s, base, store.Outcome{ID: done.ID, Attempt: 1, Status: loom.StatusCompleted})

		got, err := s.CancelTask(ctx(t), &store.CancelTaskParams{ID: flow.ID, Reason: "user asked", Now: at(time.Minute)})
		require.NoError(t, err)
		require.Len(t, got, 3)
		require.Equal(t, flow.ID, got[0].ID, "the task first")
		require.ElementsMatch(t, []string{flow.ID, step.ID, grandchild.ID}, ids(got))
		for _, id := range []string{flow.ID, step.ID, grandchild.ID} {
			c := get(t, s, id)
			require.Equal(t, loom.StatusCancelled, c.Status)
			require.Equal(t, "user asked", c.Msg)
			requireTimePtr(t, at(time.Minute), c.Ended, "Ended")
			require.Nil(t, c.LeaseUntil)
			require.Equal(t, "cancelled", eventTypes(t, s, id)[len(eventTypes(t, s, id))-1])
		}
		require.Equal(t, loom.StatusCompleted, get(t, s, done.ID).Status, "ended steps stay")
		require.Equal(t, loom.StatusPending, get(t, s, unrelated.ID).Status)

		_, err = s.CancelTask(ctx(t), &store.CancelTaskParams{ID: flow.ID, Now: at(time.Hour)})
		require.ErrorIs(t, err, store.ErrConflict)
		_, err = s.CancelTask(ctx(t), &store.CancelTaskParams{ID: done.ID, Now: at(time.Hour)})
		require.ErrorIs(t, err, store.ErrConflict)
		_, err = s.CancelTask(ctx(t), &store.CancelTaskParams{ID: "no-such-task", Now: at(time.Hour)})
		require.ErrorIs(t, err, store.ErrNotFound)

		res := finish(t, s, at(time.Hour), store.Outcome{ID: step.ID, Attempt: 1, Status: loom.StatusCompleted})
		require.False(t, res[0].Applied, "a cancelled attempt cannot complete")
		out, err := s.ExtendLeases(ctx(t), &store.ExtendLeasesParams{Leases: []store.Lease{{ID: step.ID, Attempt: 1}}, LeaseUntil: at(time.Hour)})
		require.NoError(t, err)
		require.False(t, out[0].Extended)
		require.Equal(t, loom.StatusCancelled, out[0].Status)
	}},
	{"Retry", func(t *testing.T, s store.Store) {
		task := insert(t, s, &loom.TaskInfo{Type: "job", MaxAttempts: 2, Input: loom.Values{"v": 1.0}})[0]
		for attempt := 1; attempt <= 2; attempt++ {
			c := claimOne(t, s, loom.DefaultQueue, base)
			require.Equal(t, attempt, c.Attempt)
			status := loom.StatusPending
			if attempt == 2 {
				status = loom.StatusFailed
			}
			finish(t, s, base, store.Outcome{ID: task.ID, Attempt: attempt, Status: status, Msg: "boom"})
		}
		got, err := s.RetryTask(ctx(t), &store.RetryTaskParams{ID: task.ID, Input: loom.Values{"v": 2.0}, Now: at(time.Hour)})
		require.NoError(t, err)
		for _, r := range []*loom.TaskInfo{got, get(t, s, task.ID)} {
			require.Equal(t, loom.StatusPending, r.Status)
			require.Equal(t, loom.Values{"v": 2.0}, r.Input)
			require.Equal(t, 2, r.Attempt, "attempts keep counting")
			require.Equal(t, 4, r.MaxAttempts, "a fresh budget of 2")
			require.Empty(t, r.Result)
			require.Empty(t, r.Msg)
			require.Nil(t, r.Ended)
			requireTime(t, at(time.Hour), r.RunAt, "RunAt")
			require.True(t, r.Timeout.After(at(time.Hour)), "a retried task does not expire at once")
		}
		c := claimOne(t, s, loom.DefaultQueue, at(time.Hour))
		require.Equal(t, 3, c.Attempt)
		finish(t, s, at(time.Hour), store.Outcome{ID: task.ID, Attempt: 3, Status: loom.StatusFailed})

		got, err = s.RetryTask(ctx(t), &store.RetryTaskParams{ID: task.ID, MaxAttempts: 5, Now: at(2 * time.Hour)})
		require.NoError(t, err)
		require.Equal(t, 8, got.MaxAttempts)
		require.Equal(t, loom.Values{"v": 2.0}, got.Input, "nil Input keeps the input")
	}},
	{"RetryCancelled", func(t *testing.T, s store.Store) {
		task := insert(t, s, newTask("job"))[0]
		_, err := s.CancelTask(ctx(t), &store.CancelTaskParams{ID: task.ID, Now: base})
		require.NoError(t, err)
		got, err := s.RetryTask(ctx(t), &store.RetryTaskParams{ID: task.ID, Now: at(time.Minute)})
		require.NoError(t, err)
		require.Equal(t, loom.StatusPending, got.Status)
		require.Equal(t, 1, got.MaxAttempts)
		require.Len(t, claim(t, s, loom.DefaultQueue, 1, at(time.Minute)), 1)
	}},
	{"RetryConflict", func(t *testing.T, s store.Store) {
		tasks := insertN(t, s, 3, "")
		claimed := claim(t, s, loom.DefaultQueue, 2, base)
		finish(t, s, base, store.Outcome{ID: claimed[1].ID, Attempt: 1, Status: loom.StatusCompleted})
		for _, task := range tasks {
			_, err := s.RetryTask(ctx(t), &store.RetryTaskParams{ID: task.ID, Now: base})
			require.ErrorIs(t, err, store.ErrConflict, "task %s is %s", task.ID, get(t, s, task.ID).Status)
		}
		_, err := s.RetryTask(ctx(t), &store.RetryTaskParams{ID: "no-such-task", Now: base})
		require.ErrorIs(t, err, store.ErrNotFound)
	}},
	{"ReapLeaseNowAndNextTimeout", func(t *testing.T, s store.Store) {
		_, ok, err := s.NextTimeout(ctx(t))
		require.NoError(t, err)
		require.False(t, ok, "no task, no timeout")
		later := insert(t, s, &loom.TaskInfo{Type: "job", Queue: "a", Timeout: at(2 * time.Hour)})[0]
		sooner := insert(t, s, &loom.TaskInfo{Type: "job", Queue: "b", Timeout: at(time.Hour)})[0]
		next, ok, err := s.NextTimeout(ctx(t))
		require.NoError(t, err)
		require.True(t, ok)
		requireTime(t, at(time.Hour), next, "NextTimeout")

		claimOne(t, s, "a", base) // lease until base+1m
		// Timeouts count Now, leases LeaseNow: an hour and a half on the
		// task clock expires sooner, a second on the lease clock lapses
		// nothing.
		res, err := s.ReapTasks(ctx(t), &store.ReapTasksParams{Now: at(90 * time.Minute), LeaseNow: at(time.Second)})
		require.NoError(t, err)
		require.Equal(t, []string{sooner.ID}, ids(res.Expired))
		require.Empty(t, res.Lapsed)
		next, ok, err = s.NextTimeout(ctx(t))
		require.NoError(t, err)
		require.True(t, ok, "an ended task's timeout no longer counts")
		requireTime(t, at(2*time.Hour), next, "NextTimeout")
		res, err = s.ReapTasks(ctx(t), &store.ReapTasksParams{Now: at(90 * time.Minute), LeaseNow: at(time.Minute)})
		require.NoError(t, err)
		require.Empty(t, res.Expired)
		require.Equal(t, []store.Lease{{ID: later.ID, Attempt: 1}}, res.Lapsed)
	}},
	{"Reap", func(t *testing.T, s store.Store) {
		expiring := insert(t, s, &loom.TaskInfo{Type: "job", Queue: "x", Timeout: at(time.Minute)})[0]
		expiringRunning := insert(t, s, &loom.TaskInfo{Type: "job", Queue: "xr", Timeout: at(time.Minute)})[0]
		lapsing := insert(t, s, &loom.TaskInfo{Type: "job", Queue: "l"})[0]
		healthy := insert(t, s, &loom.TaskInfo{Type: "job", Queue: "h"})[0]
		waiting := insert(t, s, &loom.TaskInfo{Type: "job", Queue: "w"})[0]
		claimOne(t, s, "xr", base)
		claimOne(t, s, "l", base) // lease until base+1m
		claimOne(t, s, "h", base)
		_, err := s.ExtendLeases(ctx(t), &store.ExtendLeasesParams{
			Leases: []store.Lease{{ID: healthy.ID, Attempt: 1}}, LeaseUntil: at(time.Hour),
		})
		require.NoError(t, err)

		res, err := s.ReapTasks(ctx(t), &store.ReapTasksParams{Now: at(time.Minute - time.Nanosecond)})
		require.NoError(t, err)
		require.Empty(t, res.Expired)
		require.Empty(t, res.Requeued)

		res, err = s.ReapTasks(ctx(t), &store.ReapTasksParams{Now: at(time.Minute)})
		require.NoError(t, err)
		require.ElementsMatch(t, []string{expiring.ID, expiringRunning.ID}, ids(res.Expired))
		require.Equal(t, []string{lapsing.ID}, ids(res.Requeued))
		for _, id := range []string{expiring.ID, expiringRunning.ID} {
			got := get(t, s, id)
			require.Equal(t, loom.StatusFailed, got.Status)
			require.Equal(t, loom.ResultError, got.Result)
			require.Contains(t, strings.ToLower(got.Msg), "expired")
			requireTimePtr(t, at(time.Minute), got.Ended, "Ended")
		}
		require.Equal(t, []store.Lease{{ID: lapsing.ID, Attempt: 1}}, res.Lapsed)
		got := get(t, s, lapsing.ID)
		require.Equal(t, loom.StatusPending, got.Status)
		require.Equal(t, 0, got.Attempt, "an attempt never marked started gives its number back")
		require.Equal(t, 1, got.LeaseExpiries)
		require.Nil(t, got.LeaseUntil)
		require.Equal(t, loom.StatusRunning, get(t, s, healthy.ID).Status)
		require.Equal(t, loom.StatusPending, get(t, s, waiting.ID).Status)
		require.Equal(t, 1, claimOne(t, s, "l", at(time.Minute)).Attempt)

		res, err = s.ReapTasks(ctx(t), &store.ReapTasksParams{Now: at(time.Minute)})
		require.NoError(t, err)
		require.Empty(t, res.Expired)
		require.Empty(t, res.Requeued)
	}},
	{"ReapLimit", func(t *testing.T, s store.Store) {
		tasks := make([]*loom.TaskInfo, 5)
		for i := range tasks {
			tasks[i] = &loom.TaskInfo{Type: "job", Timeout: at(time.Minute)}
		}
		insert(t, s, tasks...)
		res, err := s.ReapTasks(ctx(t), &store.ReapTasksParams{Now: at(time.Hour), Limit: 3})
		require.NoError(t, err)
		require.Len(t, res.Expired, 3)
		res, err = s.ReapTasks(ctx(t), &store.ReapTasksParams{Now: at(time.Hour), Limit: 3})
		require.NoError(t, err)
		require.Len(t, res.Expired, 2)
	}},
}
