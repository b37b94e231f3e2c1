package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

var eventTests = []test{
	{"Lifecycle", func(t *testing.T, s store.Store) {
		task := insert(t, s, &loom.TaskInfo{Type: "job", MaxAttempts: 2})[0]
		claimOne(t, s, loom.DefaultQueue, at(1*time.Second))
		finish(t, s, at(2*time.Second), store.Outcome{ID: task.ID, Attempt: 1, Status: loom.StatusPending, Msg: "flaky", RetryAt: at(3 * time.Second)})
		claimOne(t, s, loom.DefaultQueue, at(3*time.Second))
		finish(t, s, at(4*time.Second), store.Outcome{ID: task.ID, Attempt: 2, Status: loom.StatusFailed, Msg: "boom"})
		_, err := s.RetryTask(ctx(t), &store.RetryTaskParams{ID: task.ID, Now: at(5 * time.Second)})
		require.NoError(t, err)
		claimOne(t, s, loom.DefaultQueue, at(6*time.Second))
		markStarted(t, s, store.Lease{ID: task.ID, Attempt: 3})
		_, err = s.ReapTasks(ctx(t), &store.ReapTasksParams{Now: at(7 * time.Minute)}) // lease lapsed
		require.NoError(t, err)
		claimOne(t, s, loom.DefaultQueue, at(8*time.Minute))
		finish(t, s, at(9*time.Minute), store.Outcome{ID: task.ID, Attempt: 4, Status: loom.StatusCompleted})

		evs, err := s.ListEvents(ctx(t), &store.ListEventsParams{TaskID: task.ID})
		require.NoError(t, err)
		type ev struct {
			typ     string
			attempt int
			status  loom.Status
			time    time.Time
		}
		want := []ev{
			{"created", 0, loom.StatusPending, base},
			{"started", 1, loom.StatusRunning, at(time.Second)},
			{"retrying", 1, loom.StatusPending, at(2 * time.Second)},
			{"started", 2, loom.StatusRunning, at(3 * time.Second)},
			{"failed", 2, loom.StatusFailed, at(4 * time.Second)},
			{"retried", 2, loom.StatusPending, at(5 * time.Second)},
			{"started", 3, loom.StatusRunning, at(6 * time.Second)},
			{"requeued", 3, loom.StatusPending, at(7 * time.Minute)},
			{"started", 4, loom.StatusRunning, at(8 * time.Minute)},
			{"completed", 4, loom.StatusCompleted, at(9 * time.Minute)},
		}
		require.Len(t, evs, len(want))
		for i, w := range want {
			e := evs[i]
			require.Equal(t, task.ID, e.TaskID)
			require.Equal(t, w.typ, e.Type, "event %d", i)
			require.Equal(t, w.attempt, e.Attempt, "event %d (%s) attempt", i, w.typ)
			require.Equal(t, w.status, e.Status, "event %d (%s) status", i, w.typ)
			requireTime(t, w.time, e.Time, w.typ)
			if i > 0 {
				require.Greater(t, e.Seq, evs[i-1].Seq)
			}
		}
		require.Equal(t, "boom", evs[4].Msg)
		require.Contains(t, evs[7].Msg, "lease expired")
		require.Equal(t, "flaky", evs[2].Msg)
	}},
	{"CancelAndExpire", func(t *testing.T, s store.Store) {
		a := insert(t, s, &loom.TaskInfo{Type: "job", Timeout: at(time.Minute)})[0]
		b := insert(t, s, newTask("job"))[0]
		_, err := s.ReapTasks(ctx(t), &store.ReapTasksParams{Now: at(time.Hour)})
		require.NoError(t, err)
		_, err = s.CancelTask(ctx(t), &store.CancelTaskParams{ID: b.ID, Reason: "no longer needed", Now: at(time.Hour)})
		require.NoError(t, err)
		require.Equal(t, []string{"created", "expired"}, eventTypes(t, s, a.ID))
		evs, err := s.ListEvents(ctx(t), &store.ListEventsParams{TaskID: b.ID})
		require.NoError(t, err)
		require.Len(t, evs, 2)
		require.Equal(t, "cancelled", evs[1].Type)
		require.Equal(t, "no longer needed", evs[1].Msg)
		require.Equal(t, loom.StatusCancelled, evs[1].Status)
	}},
	{"AllTasksAfterSeq", func(t *testing.T, s store.Store) {
		tasks := insertN(t, s, 4, "")
		claim(t, s, loom.DefaultQueue, 4, at(time.Second))
		all, err := s.ListEvents(ctx(t), &store.ListEventsParams{})
		require.NoError(t, err)
		require.Len(t, all, 8)
		for i := 1; i < len(all); i++ {
			require.Greater(t, all[i].Seq, all[i-1].Seq)
		}
		for i := range 4 {
			require.Equal(t, "created", all[i].Type)
			require.Equal(t, tasks[i].ID, all[i].TaskID, "events of a batch in order")
			require.Equal(t, "started", all[4+i].Type)
		}
		page, err := s.ListEvents(ctx(t), &store.ListEventsParams{AfterSeq: all[2].Seq, Limit: 3})
		require.NoError(t, err)
		require.Equal(t, all[3:6], page)
		_, err = s.ListEvents(ctx(t), &store.ListEventsParams{TaskID: "no-such-task"})
		require.ErrorIs(t, err, store.ErrNotFound)
	}},
}
