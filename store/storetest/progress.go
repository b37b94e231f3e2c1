package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

func setProgress(t *testing.T, s store.Store, workerID string, reports ...store.ProgressReport) int {
	t.Helper()
	n, err := s.SetProgress(ctx(t), &store.SetProgressParams{Reports: reports, WorkerID: workerID})
	require.NoError(t, err)
	return n
}

func report(id string, attempt int, done, total int64, msg string, when time.Time) store.ProgressReport {
	return store.ProgressReport{
		Lease:    store.Lease{ID: id, Attempt: attempt},
		Progress: loom.Progress{Done: done, Total: total, Message: msg, UpdatedAt: when},
	}
}

var progressTests = []test{
	{"KeptOnTask", func(t *testing.T, s store.Store) {
		task := insert(t, s, &loom.TaskInfo{Type: "job", Queue: "pq", MaxAttempts: 2})[0]
		require.Nil(t, get(t, s, task.ID).Progress, "no progress before the first report")
		c := claimOne(t, s, "pq", at(time.Second))
		require.Nil(t, c.Progress)
		evs := len(eventTypes(t, s, task.ID))

		// Of two reports of one call, the last wins.
		require.Equal(t, 1, setProgress(t, s, "w1",
			report(task.ID, 1, 3, 10, "first", at(2*time.Second)),
			report(task.ID, 1, 4, 10, "copying b.txt", at(3*time.Second))))
		got := get(t, s, task.ID).Progress
		require.NotNil(t, got)
		require.Equal(t, int64(4), got.Done)
		require.Equal(t, int64(10), got.Total)
		require.Equal(t, "copying b.txt", got.Message)
		requireTime(t, at(3*time.Second), got.UpdatedAt, "UpdatedAt")
		require.Len(t, eventTypes(t, s, task.ID), evs, "progress appends no event")

		// Lists carry it too.
		page, err := s.ListTasks(ctx(t), &store.ListTasksParams{Queue: "pq"})
		require.NoError(t, err)
		require.Len(t, page.Tasks, 1)
		require.Equal(t, int64(4), page.Tasks[0].Progress.Done)

		// Another worker, or another attempt, changes nothing.
		require.Zero(t, setProgress(t, s, "w2", report(task.ID, 1, 9, 10, "not mine", at(4*time.Second))))
		require.Zero(t, setProgress(t, s, "", report(task.ID, 2, 9, 10, "no such attempt", at(4*time.Second))))
		require.Zero(t, setProgress(t, s, "", report("no-such-task", 1, 9, 10, "", at(4*time.Second))))
		require.Equal(t, int64(4), get(t, s, task.ID).Progress.Done)

		// Kept when the attempt fails and waits to retry; the next
		// attempt starts without.
		finish(t, s, at(5*time.Second), store.Outcome{ID: task.ID, Attempt: 1, Status: loom.StatusPending, Msg: "boom", RetryAt: at(6 * time.Second)})
		require.Equal(t, int64(4), get(t, s, task.ID).Progress.Done)
		c = claimOne(t, s, "pq", at(7*time.Second))
		require.Equal(t, 2, c.Attempt)
		require.Nil(t, c.Progress)
		require.Nil(t, get(t, s, task.ID).Progress)

		// Kept once the task has ended, and no report changes it then.
		require.Equal(t, 1, setProgress(t, s, "", report(task.ID, 2, 10, 10, "done", at(8*time.Second))))
		finish(t, s, at(9*time.Second), store.Outcome{ID: task.ID, Attempt: 2, Status: loom.StatusCompleted})
		require.Zero(t, setProgress(t, s, "", report(task.ID, 2, 1, 10, "late", at(10*time.Second))))
		got = get(t, s, task.ID).Progress
		require.Equal(t, int64(10), got.Done)
		require.Equal(t, "done", got.Message)
	}},
	{"BriefClaimClears", func(t *testing.T, s store.Store) {
		task := insert(t, s, &loom.TaskInfo{Type: "job", Queue: "pb", MaxAttempts: 2})[0]
		claimOne(t, s, "pb", at(time.Second))
		setProgress(t, s, "", report(task.ID, 1, 1, 2, "half", at(2*time.Second)))
		finish(t, s, at(3*time.Second), store.Outcome{ID: task.ID, Attempt: 1, Status: loom.StatusPending, RetryAt: at(3 * time.Second)})
		got, err := s.ClaimTasks(ctx(t), &store.ClaimTasksParams{Queue: "pb", Limit: 1, WorkerID: "w", Now: at(4 * time.Second), Brief: true})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Nil(t, get(t, s, task.ID).Progress)
	}},
	{"LongMessageCut", func(t *testing.T, s store.Store) {
		task := insert(t, s, &loom.TaskInfo{Type: "job", Queue: "pm"})[0]
		claimOne(t, s, "pm", at(time.Second))
		setProgress(t, s, "", report(task.ID, 1, 0, 0, strings.Repeat("é", loom.MaxProgressMessage), time.Time{}))
		got := get(t, s, task.ID).Progress
		require.NotNil(t, got)
		require.LessOrEqual(t, len(got.Message), loom.MaxProgressMessage)
		require.False(t, got.UpdatedAt.IsZero(), "a report without a time is stamped")
	}},
}
