package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

var claimTests = []test{
	{"ClaimedByInsert", func(t *testing.T, s store.Store) {
		require.NoError(t, s.UpsertQueue(ctx(t), store.QueueConfig{Name: "paused", Paused: true}))
		require.NoError(t, s.UpsertQueue(ctx(t), store.QueueConfig{Name: "capped", Concurrency: 2}))
		running := func(queue string) *loom.TaskInfo {
			return &loom.TaskInfo{Type: "job", Queue: queue, Status: loom.StatusRunning, Attempt: 1, WorkerID: "worker-7",
				Started: ptr(at(time.Second)), LeaseUntil: ptr(at(time.Minute))}
		}
		res, err := s.InsertTasks(ctx(t), &store.InsertTasksParams{
			Tasks: []*loom.TaskInfo{running(loom.DefaultQueue), running("paused"), running("capped"), newTask("job")},
			Now:   base, Claimed: true,
		})
		require.NoError(t, err)
		require.Len(t, res, 4)
		for i, r := range res {
			require.False(t, r.Existing)
			got := get(t, s, r.Task.ID)
			require.Equal(t, r.Task.Status, got.Status, "task %d", i)
			require.Equal(t, r.Task.Attempt, got.Attempt, "task %d", i)
		}
		// Claimed as ClaimTasks would have: running, leased, with the
		// claim's event after the insert's.
		c := get(t, s, res[0].Task.ID)
		require.Equal(t, loom.StatusRunning, c.Status)
		require.Equal(t, 1, c.Attempt)
		require.Equal(t, "worker-7", c.WorkerID)
		requireTimePtr(t, at(time.Second), c.Started, "Started")
		requireTimePtr(t, at(time.Minute), c.LeaseUntil, "LeaseUntil")
		evs, err := s.ListEvents(ctx(t), &store.ListEventsParams{TaskID: c.ID})
		require.NoError(t, err)
		require.Len(t, evs, 2)
		require.Equal(t, "created", evs[0].Type)
		require.Equal(t, "started", evs[1].Type)
		require.Equal(t, 1, evs[1].Attempt)
		require.Equal(t, loom.StatusRunning, evs[1].Status)
		require.Equal(t, "worker-7", evs[1].Data["worker_id"])
		requireTime(t, at(time.Second), evs[1].Time, "time of the started event")
		// A paused or capped queue holds its task back for a claim.
		for _, r := range res[1:3] {
			p := get(t, s, r.Task.ID)
			require.Equal(t, loom.StatusPending, r.Task.Status)
			require.Equal(t, loom.StatusPending, p.Status)
			require.Zero(t, p.Attempt)
			require.Empty(t, p.WorkerID)
			require.Nil(t, p.Started)
			require.Nil(t, p.LeaseUntil)
			evs, err := s.ListEvents(ctx(t), &store.ListEventsParams{TaskID: p.ID})
			require.NoError(t, err)
			require.Len(t, evs, 1)
		}
		require.Equal(t, loom.StatusPending, res[3].Task.Status)
		got := claim(t, s, "capped", 5, at(2*time.Second))
		require.Equal(t, []string{res[2].Task.ID}, ids(got))
		// The counts by queue see the claimed task running.
		qs, err := s.ListQueues(ctx(t))
		require.NoError(t, err)
		for _, q := range qs {
			switch q.Name {
			case loom.DefaultQueue:
				require.Equal(t, 1, q.Running)
				require.Equal(t, 1, q.Pending)
			case "paused":
				require.Equal(t, 1, q.Pending)
				require.Zero(t, q.Running)
			}
		}
		// Without Claimed, a task given running gets no claim's event.
		plain := insert(t, s, running(loom.DefaultQueue))[0]
		evs, err = s.ListEvents(ctx(t), &store.ListEventsParams{TaskID: plain.ID})
		require.NoError(t, err)
		require.Len(t, evs, 1)
	}},
	{"Order", func(t *testing.T, s store.Store) {
		low := insert(t, s, &loom.TaskInfo{Type: "job", Priority: 0, RunAt: at(-time.Hour)})[0]
		highLate := insert(t, s, &loom.TaskInfo{Type: "job", Priority: 9, RunAt: at(-time.Minute)})[0]
		highEarly := insert(t, s, &loom.TaskInfo{Type: "job", Priority: 9, RunAt: at(-time.Hour)})[0]
		same := insert(t, s,
			&loom.TaskInfo{Type: "job", Priority: 5, RunAt: at(-time.Hour)},
			&loom.TaskInfo{Type: "job", Priority: 5, RunAt: at(-time.Hour)})
		first, second := same[0].ID, same[1].ID
		if second < first {
			first, second = second, first
		}
		got := claim(t, s, loom.DefaultQueue, 2, base)
		require.Equal(t, []string{highEarly.ID, highLate.ID}, ids(got))
		got = claim(t, s, loom.DefaultQueue, 10, base)
		require.Equal(t, []string{first, second, low.ID}, ids(got))
		require.Empty(t, claim(t, s, loom.DefaultQueue, 10, base))
	}},
	{"Fields", func(t *testing.T, s store.Store) {
		task := insert(t, s, newTask("job"))[0]
		got, err := s.ClaimTasks(ctx(t), &store.ClaimTasksParams{
			Queue: loom.DefaultQueue, Limit: 1, WorkerID: "worker-7", Now: at(time.Second), LeaseUntil: at(time.Minute),
		})
		require.NoError(t, err)
		require.Len(t, got, 1)
		for _, c := range []*loom.TaskInfo{got[0], get(t, s, task.ID)} {
			require.Equal(t, task.ID, c.ID)
			require.Equal(t, loom.StatusRunning, c.Status)
			require.Equal(t, 1, c.Attempt)
			require.Equal(t, "worker-7", c.WorkerID)
			requireTimePtr(t, at(time.Second), c.Started, "Started")
			requireTimePtr(t, at(time.Minute), c.LeaseUntil, "LeaseUntil")
			require.Nil(t, c.Ended)
		}
	}},
	{"Brief", func(t *testing.T, s store.Store) {
		task := insert(t, s, &loom.TaskInfo{
			Type: "job", Queue: "q1", Info: "monthly", Priority: 3, MaxAttempts: 2,
			Input: loom.Values{"n": 1.0}, RunAt: at(-time.Minute), Timeout: at(time.Hour),
			Attributes: map[string]any{"team": "data"},
		})[0]
		got, err := s.ClaimTasks(ctx(t), &store.ClaimTasksParams{
			Queue: "q1", Limit: 5, WorkerID: "worker-7", Now: at(time.Second), LeaseUntil: at(time.Minute), Brief: true,
		})
		require.NoError(t, err)
		require.Len(t, got, 1)
		c := got[0]
		require.Equal(t, task.ID, c.ID)
		require.Equal(t, "job", c.Type)
		require.Equal(t, "q1", c.Queue)
		require.Equal(t, "monthly", c.Info)
		require.Equal(t, map[string]any{"team": "data"}, c.Attributes)
		require.Equal(t, 3, c.Priority)
		require.Equal(t, loom.Values{"n": 1.0}, c.Input)
		requireTime(t, task.Created, c.Created, "Created")
		requireTime(t, at(-time.Minute), c.RunAt, "RunAt")
		requireTime(t, at(time.Hour), c.Timeout, "Timeout")
		require.Equal(t, 1, c.Attempt)
		require.Equal(t, 2, c.MaxAttempts)
		require.Equal(t, loom.StatusRunning, c.Status)
		require.Equal(t, "worker-7", c.WorkerID)
		requireTimePtr(t, at(time.Second), c.Started, "Started")
		requireTimePtr(t, at(time.Minute), c.LeaseUntil, "LeaseUntil")
		require.Equal(t, loom.StatusRunning, get(t, s, task.ID).Status)
	}},
	{"RunAt", func(t *testing.T, s store.Store) {
		later := insert(t, s, &loom.TaskInfo{Type: "job", RunAt: at(time.Hour)})[0]
		require.Empty(t, claim(t, s, loom.DefaultQueue, 10, at(time.Hour-time.Nanosecond)))
		require.Equal(t, []string{later.ID}, ids(claim(t, s, loom.DefaultQueue, 10, at(time.Hour))))
	}},
	{"Queue", func(t *testing.T, s store.Store) {
		insertN(t, s, 3, "a")
		b := insertN(t, s, 2, "b")
		got := claim(t, s, "b", 10, base)
		require.ElementsMatch(t, ids(b), ids(got))
	}},
	{"Limit", func(t *testing.T, s store.Store) {
		insertN(t, s, 10, "")
		require.Len(t, claim(t, s, loom.DefaultQueue, 4, base), 4)
		require.Len(t, claim(t, s, loom.DefaultQueue, 4, base), 4)
		require.Len(t, claim(t, s, loom.DefaultQueue, 4, base), 2)
	}},
	{"MaxRunning", func(t *testing.T, s store.Store) {
		insertN(t, s, 10, "")
		claimMax := func(limit, maxRunning int) []*loom.TaskInfo {
			got, err := s.ClaimTasks(ctx(t), &store.ClaimTasksParams{
				Queue: loom.DefaultQueue, Limit: limit, MaxRunning: maxRunning, WorkerID: "w", Now: base, LeaseUntil: at(time.Minute),
			})
			require.NoError(t, err)
			return got
		}
		require.Len(t, claimMax(2, 3), 2)
		require.Len(t, claimMax(5, 3), 1)
		require.Empty(t, claimMax(5, 3))
		first := claimMax(1, 0)
		require.Len(t, first, 1, "zero MaxRunning means no cap")
		finish(t, s, base, store.Outcome{ID: first[0].ID, Attempt: 1, Status: loom.StatusCompleted})
		require.Empty(t, claimMax(5, 3), "still 3 running")
		require.Len(t, claimMax(5, 5), 2)
	}},
	{"QueueSettings", func(t *testing.T, s store.Store) {
		insertN(t, s, 10, "q")
		require.NoError(t, s.UpsertQueue(ctx(t), store.QueueConfig{Name: "q", Paused: true}))
		require.Empty(t, claim(t, s, "q", 10, base), "paused")
		require.NoError(t, s.UpsertQueue(ctx(t), store.QueueConfig{Name: "q", Concurrency: 3}))
		require.Len(t, claim(t, s, "q", 10, base), 3)
		require.Empty(t, claim(t, s, "q", 10, base))
	}},
	{"ConcurrentClaimers", func(t *testing.T, s store.Store) {
		const n, workers = 300, 8
		insertN(t, s, n, "")
		var (
			mu     sync.Mutex
			seen   = map[string]int{}
			wg     sync.WaitGroup
			errsMu sync.Mutex
			errs   []error
		)
		for range workers {
			wg.Go(func() {
				for {
					got, err := s.ClaimTasks(ctx(t), &store.ClaimTasksParams{
						Queue: loom.DefaultQueue, Limit: 7, WorkerID: "w", Now: base, LeaseUntil: at(time.Minute),
					})
					if err != nil {
						errsMu.Lock()
						errs = append(errs, err)
						errsMu.Unlock()
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, task := range got {
						seen[task.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		require.Empty(t, errs)
		require.Len(t, seen, n)
		for id, c := range seen {
			require.Equal(t, 1, c, "task %s claimed %d times", id, c)
		}
	}},
	{"ExtendLeases", func(t *testing.T, s store.Store) {
		tasks := insertN(t, s, 3, "")
		claim(t, s, loom.DefaultQueue, 3, base)
		done := tasks[2]
		finish(t, s, base, store.Outcome{ID: done.ID, Attempt: 1, Status: loom.StatusCompleted})
		out, err := s.ExtendLeases(ctx(t), &store.ExtendLeasesParams{
			LeaseUntil: at(time.Hour),
			Leases:     []store.Lease{{ID: tasks[0].ID, Attempt: 1}, {ID: tasks[1].ID, Attempt: 2}, {ID: done.ID, Attempt: 1}},
		})
		require.NoError(t, err)
		require.Len(t, out, 3)
		require.Equal(t, store.Lease{ID: tasks[0].ID, Attempt: 1}, out[0].Lease)
		require.True(t, out[0].Extended)
		require.Equal(t, loom.StatusRunning, out[0].Status)
		require.False(t, out[1].Extended, "stale attempt")
		require.Equal(t, loom.StatusRunning, out[1].Status)
		require.False(t, out[2].Extended, "finished")
		require.Equal(t, loom.StatusCompleted, out[2].Status)
		requireTimePtr(t, at(time.Hour), get(t, s, tasks[0].ID).LeaseUntil, "extended lease")
		requireTimePtr(t, at(time.Minute), get(t, s, tasks[1].ID).LeaseUntil, "lease left alone")
	}},
	{"NextRunAt", func(t *testing.T, s store.Store) {
		_, ok, err := s.NextRunAt(ctx(t), nil)
		require.NoError(t, err)
		require.False(t, ok)
		insert(t, s,
			&loom.TaskInfo{Type: "job", Queue: "a", RunAt: at(time.Hour)},
			&loom.TaskInfo{Type: "job", Queue: "a", RunAt: at(2 * time.Hour)},
			&loom.TaskInfo{Type: "job", Queue: "b", RunAt: at(30 * time.Minute)},
			&loom.TaskInfo{Type: "job", Queue: "c", RunAt: at(-time.Hour)},
		)
		claim(t, s, "c", 1, base)
		next, ok, err := s.NextRunAt(ctx(t), nil)
		require.NoError(t, err)
		require.True(t, ok)
		requireTime(t, at(30*time.Minute), next, "all queues")
		next, ok, err = s.NextRunAt(ctx(t), []string{"a"})
		require.NoError(t, err)
		require.True(t, ok)
		requireTime(t, at(time.Hour), next, "queue a")
		_, ok, err = s.NextRunAt(ctx(t), []string{"c", "d"})
		require.NoError(t, err)
		require.False(t, ok, "running tasks do not count")
	}},
}

var finishTests = []test{
	{"Completed", func(t *testing.T, s store.Store) {
		task := insert(t, s, newTask("job"))[0]
		claimOne(t, s, loom.DefaultQueue, base)
		res := finish(t, s, at(time.Second), store.Outcome{
			ID: task.ID, Attempt: 1, Status: loom.StatusCompleted, Output: loom.Values{"sum": 3.0}, Msg: "ok",
		})
		require.True(t, res[0].Applied)
		for _, got := range []*loom.TaskInfo{res[0].Task, get(t, s, task.ID)} {
			require.Equal(t, loom.StatusCompleted, got.Status)
			require.Equal(t, loom.ResultComplete, got.Result)
			require.Equal(t, loom.Values{"sum": 3.0}, got.Output)
			require.Equal(t, "ok", got.Msg)
			requireTimePtr(t, at(time.Second), got.Ended, "Ended")
			require.Nil(t, got.LeaseUntil)
		}
	}},
	{"Failed", func(t *testing.T, s store.Store) {
		task := insert(t, s, newTask("job"))[0]
		claimOne(t, s, loom.DefaultQueue, base)
		res := finish(t, s, at(time.Second), store.Outcome{ID: task.ID, Attempt: 1, Status: loom.StatusFailed, Msg: "boom"})
		require.True(t, res[0].Applied)
		got := get(t, s, task.ID)
		require.Equal(t, loom.StatusFailed, got.Status)
		require.Equal(t, loom.ResultError, got.Result)
		require.Equal(t, "boom", got.Msg)
		requireTimePtr(t, at(time.Second), got.Ended, "Ended")
	}},
	{"RetryLater", func(t *testing.T, s store.Store) {
		task := insert(t, s, &loom.TaskInfo{Type: "job", MaxAttempts: 3})[0]
		claimOne(t, s, loom.DefaultQueue, base)
		res := finish(t, s, at(time.Second), store.Outcome{
			ID: task.ID, Attempt: 1, Status: loom.StatusPending, Msg: "flaky", RetryAt: at(time.Minute),
		})
		require.True(t, res[0].Applied)
		got := get(t, s, task.ID)
		require.Equal(t, loom.StatusPending, got.Status)
		require.Equal(t, "flaky", got.Msg)
		require.Equal(t, 1, got.Attempt)
		require.Nil(t, got.Ended)
		require.Nil(t, got.LeaseUntil)
		requireTime(t, at(time.Minute), got.RunAt, "RunAt")
		require.Empty(t, claim(t, s, loom.DefaultQueue, 1, at(time.Minute-time.Nanosecond)))
		again := claimOne(t, s, loom.DefaultQueue, at(time.Minute))
		require.Equal(t, 2, again.Attempt)
	}},
	{"WorkerTimes", func(t *testing.T, s store.Store) {
		// A worker's own start and end times replace the claim's and the
		// recorder's; a retry keeps the start and has no end.
		tasks := insert(t, s, newTask("job"), &loom.TaskInfo{Type: "job", MaxAttempts: 2})
		claim(t, s, loom.DefaultQueue, 2, base)
		res := finish(t, s, at(time.Minute),
			store.Outcome{ID: tasks[0].ID, Attempt: 1, Status: loom.StatusCompleted, Msg: "did it",
				Started: at(2 * time.Second), Ended: at(5 * time.Second)},
			store.Outcome{ID: tasks[1].ID, Attempt: 1, Status: loom.StatusPending, Msg: "again",
				Started: at(3 * time.Second), Ended: at(4 * time.Second)})
		require.True(t, res[0].Applied)
		require.True(t, res[1].Applied)
		got := get(t, s, tasks[0].ID)
		require.Equal(t, "did it", got.Msg)
		requireTimePtr(t, at(2*time.Second), got.Started, "Started")
		requireTimePtr(t, at(5*time.Second), got.Ended, "Ended")
		got = get(t, s, tasks[1].ID)
		requireTimePtr(t, at(3*time.Second), got.Started, "Started of the retry")
		require.Nil(t, got.Ended)
		// Without them, Started stays the claim's and Ended is Now.
		again := claimOne(t, s, loom.DefaultQueue, at(2*time.Minute))
		finish(t, s, at(3*time.Minute), store.Outcome{ID: again.ID, Attempt: 2, Status: loom.StatusFailed, Msg: "boom"})
		got = get(t, s, tasks[1].ID)
		requireTimePtr(t, at(2*time.Minute), got.Started, "Started of the claim")
		requireTimePtr(t, at(3*time.Minute), got.Ended, "Ended")
	}},
	{"OtherWorkersAttempt", func(t *testing.T, s store.Store) {
		// An outcome naming a worker applies only while that worker holds
		// the attempt.
		task := insert(t, s, newTask("job"))[0]
		claimOne(t, s, loom.DefaultQueue, base) // by w1
		res := finish(t, s, base, store.Outcome{ID: task.ID, Attempt: 1, Status: loom.StatusCompleted, WorkerID: "w2"})
		require.False(t, res[0].Applied)
		require.Equal(t, loom.StatusRunning, get(t, s, task.ID).Status)
		res = finish(t, s, base, store.Outcome{ID: task.ID, Attempt: 1, Status: loom.StatusCompleted, WorkerID: "w1"})
		require.True(t, res[0].Applied)
		require.Equal(t, loom.StatusCompleted, get(t, s, task.ID).Status)
	}},
	{"StaleAttempt", func(t *testing.T, s store.Store) {
		task := insert(t, s, newTask("job"))[0]
		claimOne(t, s, loom.DefaultQueue, base)
		res := finish(t, s, base, store.Outcome{ID: task.ID, Attempt: 2, Status: loom.StatusCompleted})
		require.False(t, res[0].Applied)
		require.Equal(t, loom.StatusRunning, res[0].Task.Status)
		require.Equal(t, loom.StatusRunning, get(t, s, task.ID).Status)
		res = finish(t, s, base, store.Outcome{ID: "no-such-task", Attempt: 1, Status: loom.StatusCompleted})
		require.False(t, res[0].Applied)
	}},
	{"Duplicate", func(t *testing.T, s store.Store) {
		task := insert(t, s, newTask("job"))[0]
		claimOne(t, s, loom.DefaultQueue, base)
		done := store.Outcome{ID: task.ID, Attempt: 1, Status: loom.StatusCompleted, Output: loom.Values{"n": 1.0}}
		require.True(t, finish(t, s, at(time.Second), done)[0].Applied)
		dup := done
		dup.Status, dup.Msg = loom.StatusFailed, "late duplicate"
		res := finish(t, s, at(time.Minute), done, dup)
		require.False(t, res[0].Applied)
		require.False(t, res[1].Applied)
		got := get(t, s, task.ID)
		require.Equal(t, loom.StatusCompleted, got.Status)
		require.Empty(t, got.Msg)
		requireTimePtr(t, at(time.Second), got.Ended, "Ended")
		require.Equal(t, []string{"created", "started", "completed"}, eventTypes(t, s, task.ID))
	}},
	{"Batch", func(t *testing.T, s store.Store) {
		tasks := insertN(t, s, 50, "")
		claim(t, s, loom.DefaultQueue, 50, base)
		outcomes := make([]store.Outcome, len(tasks))
		for i, task := range tasks {
			outcomes[i] = store.Outcome{ID: task.ID, Attempt: 1, Status: loom.StatusCompleted}
			if i%2 == 1 {
				outcomes[i].Status, outcomes[i].Msg = loom.StatusFailed, "odd"
			}
		}
		res := finish(t, s, at(time.Second), outcomes...)
		for i, r := range res {
			require.True(t, r.Applied)
			require.Equal(t, tasks[i].ID, r.Task.ID, "results in outcome order")
			require.Equal(t, outcomes[i].Status, r.Task.Status)
		}
	}},
	{"Brief", func(t *testing.T, s store.Store) {
		parent := insert(t, s, newTask("flow"))[0]
		step := insert(t, s, &loom.TaskInfo{Type: "step", Queue: "q1", ParentID: parent.ID, Step: "a"})[0]
		claimed := claim(t, s, "q1", 1, base)
		require.Len(t, claimed, 1)
		outcomes := []store.Outcome{
			{ID: step.ID, Attempt: 1, Status: loom.StatusCompleted, Output: loom.Values{"n": 1.0}},
			{ID: parent.ID, Attempt: 1, Status: loom.StatusCompleted}, // not running: not applied
		}
		res, err := s.FinishTasks(ctx(t), &store.FinishTasksParams{Outcomes: outcomes, Now: at(time.Second), Brief: true})
		require.NoError(t, err)
		require.Len(t, res, 2)
		require.True(t, res[0].Applied)
		got := res[0].Task
		require.Equal(t, step.ID, got.ID)
		require.Equal(t, "step", got.Type)
		require.Equal(t, "q1", got.Queue)
		require.Equal(t, loom.StatusCompleted, got.Status)
		require.Equal(t, 1, got.Attempt)
		require.Equal(t, parent.ID, got.ParentID)
		stored := get(t, s, step.ID)
		require.Equal(t, loom.Values{"n": 1.0}, stored.Output)
		requireTimePtr(t, at(time.Second), stored.Ended, "Ended")
		require.False(t, res[1].Applied)
		require.Equal(t, parent.ID, res[1].Task.ID)
		require.Equal(t, loom.StatusPending, res[1].Task.Status)
		require.Equal(t, "flow", res[1].Task.Type)
		require.Equal(t, []string{"created", "started", "completed"}, eventTypes(t, s, step.ID))
	}},
	{"InvalidStatus", func(t *testing.T, s store.Store) {
		task := insert(t, s, newTask("job"))[0]
		claimOne(t, s, loom.DefaultQueue, base)
		_, err := s.FinishTasks(ctx(t), &store.FinishTasksParams{Now: base, Outcomes: []store.Outcome{
			{ID: task.ID, Attempt: 1, Status: loom.StatusRunning},
		}})
		require.ErrorIs(t, err, store.ErrInvalid)
		require.Equal(t, loom.StatusRunning, get(t, s, task.ID).Status)
	}},
}
