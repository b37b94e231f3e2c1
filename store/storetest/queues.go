package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

var queueTests = []test{
	{"UpsertList", func(t *testing.T, s store.Store) {
		queues, err := s.ListQueues(ctx(t))
		require.NoError(t, err)
		require.Empty(t, queues)

		require.NoError(t, s.UpsertQueue(ctx(t), store.QueueConfig{Name: "emails", Concurrency: 4}))
		require.NoError(t, s.UpsertQueue(ctx(t), store.QueueConfig{Name: "idle", Paused: true}))
		require.NoError(t, s.UpsertQueue(ctx(t), store.QueueConfig{Name: "idle", Concurrency: 2, Paused: true}))
		require.ErrorIs(t, s.UpsertQueue(ctx(t), store.QueueConfig{}), store.ErrInvalid)

		tasks := insertN(t, s, 5, "emails")
		insertN(t, s, 1, "")
		claimed := claim(t, s, "emails", 4, base)
		finish(t, s, base,
			store.Outcome{ID: claimed[0].ID, Attempt: 1, Status: loom.StatusCompleted},
			store.Outcome{ID: claimed[1].ID, Attempt: 1, Status: loom.StatusFailed})
		_, err = s.CancelTask(ctx(t), &store.CancelTaskParams{ID: claimed[2].ID, Now: base})
		require.NoError(t, err)
		_ = tasks

		queues, err = s.ListQueues(ctx(t))
		require.NoError(t, err)
		require.Equal(t, []store.QueueInfo{
			{QueueConfig: store.QueueConfig{Name: "default"}, Pending: 1},
			{QueueConfig: store.QueueConfig{Name: "emails", Concurrency: 4}, Pending: 1, Running: 1, Completed: 1, Failed: 1, Cancelled: 1},
			{QueueConfig: store.QueueConfig{Name: "idle", Concurrency: 2, Paused: true}},
		}, queues)
	}},
	{"CountsFollowEveryChange", func(t *testing.T, s store.Store) {
		// A store may keep the counts apart from the tasks; after every
		// kind of change they must still be what counting the tasks gives.
		started, ended := at(-time.Hour), at(-time.Minute)
		insert(t, s,
			&loom.TaskInfo{Type: "job", Queue: "a"},
			&loom.TaskInfo{Type: "job", Queue: "a", Timeout: at(time.Minute)},
			&loom.TaskInfo{Type: "job", Queue: "b", Status: loom.StatusRunning, Attempt: 1, Started: &started},
			&loom.TaskInfo{Type: "job", Queue: "b", Status: loom.StatusCompleted, Started: &started, Ended: &ended},
			&loom.TaskInfo{Type: "job", Queue: "b", Status: loom.StatusSkipped, Ended: &ended})
		requireCountsMatch(t, s)
		insertN(t, s, 6, "a")
		insert(t, s, &loom.TaskInfo{Type: "job", Queue: "a", IdempotencyKey: "k"})
		again, err := s.InsertTasks(ctx(t), &store.InsertTasksParams{Now: base, Tasks: []*loom.TaskInfo{
			{Type: "job", Queue: "a", IdempotencyKey: "k"},
		}})
		require.NoError(t, err)
		require.True(t, again[0].Existing)
		requireCountsMatch(t, s)

		claimed := claim(t, s, "a", 5, base)
		require.Len(t, claimed, 5)
		requireCountsMatch(t, s)
		res, err := s.FinishTasks(ctx(t), &store.FinishTasksParams{Now: base, Brief: true, Outcomes: []store.Outcome{
			{ID: claimed[0].ID, Attempt: 1, Status: loom.StatusCompleted},
			{ID: claimed[1].ID, Attempt: 1, Status: loom.StatusFailed},
			{ID: claimed[2].ID, Attempt: 1, Status: loom.StatusPending, RetryAt: at(time.Hour)},
			{ID: claimed[2].ID, Attempt: 1, Status: loom.StatusCompleted}, // a duplicate: not applied
			{ID: claimed[0].ID, Attempt: 1, Status: loom.StatusFailed},    // already ended: not applied
		}})
		require.NoError(t, err)
		require.Len(t, res, 5)
		requireCountsMatch(t, s)

		_, err = s.RetryTask(ctx(t), &store.RetryTaskParams{ID: claimed[1].ID, Now: base})
		require.NoError(t, err)
		requireCountsMatch(t, s)

		parent := insert(t, s, &loom.TaskInfo{Type: "flow", Queue: "c"})[0]
		insert(t, s,
			&loom.TaskInfo{Type: "step", Queue: "c", ParentID: parent.ID, Step: "x"},
			&loom.TaskInfo{Type: "step", Queue: "d", ParentID: parent.ID, Step: "y"})
		claim(t, s, "d", 1, base)
		_, err = s.CancelTask(ctx(t), &store.CancelTaskParams{ID: parent.ID, Now: base})
		require.NoError(t, err)
		requireCountsMatch(t, s)

		// Reaping: claimed[3] and [4] lapse their leases; the task with
		// the one-minute timeout expires.
		reaped, err := s.ReapTasks(ctx(t), &store.ReapTasksParams{Now: at(2 * time.Minute)})
		require.NoError(t, err)
		require.NotEmpty(t, reaped.Expired)
		require.NotEmpty(t, reaped.Requeued)
		requireCountsMatch(t, s)
	}},
	{"CountsExactUnderConcurrency", func(t *testing.T, s store.Store) {
		// Writers of one queue change its counts side by side: bulk
		// submits, claims, finishes of every kind and prunes, none of
		// them serialised by the test. Once they are done the counts
		// must be what counting the tasks gives.
		const (
			workers = 4
			rounds  = 6
			batch   = 10
		)
		queues := []string{"x", "y"}
		errs := make(chan error, workers*len(queues))
		var wg sync.WaitGroup
		for w := range workers {
			for _, q := range queues {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- churn(t, s, q, fmt.Sprintf("w%d", w), rounds, batch)
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		requireCountsMatch(t, s)
		// Retention takes every ended task, batch after batch.
		n, err := store.PruneAll(ctx(t), s, store.PruneTasksParams{EndedBefore: at(time.Hour), Limit: 7})
		require.NoError(t, err)
		require.Positive(t, n)
		requireCountsMatch(t, s)
	}},
}

// churn submits, claims, finishes and prunes tasks of queue as worker,
// rounds times, and returns the first error.
func churn(t *testing.T, s store.Store, queue, worker string, rounds, batch int) error {
	statuses := []loom.Status{loom.StatusCompleted, loom.StatusFailed, loom.StatusPending}
	for r := range rounds {
		tasks := make([]*loom.TaskInfo, batch)
		for i := range tasks {
			tasks[i] = &loom.TaskInfo{Type: "job", Queue: queue}
		}
		if _, err := s.InsertTasks(ctx(t), &store.InsertTasksParams{Tasks: tasks, Now: base}); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		claimed, err := s.ClaimTasks(ctx(t), &store.ClaimTasksParams{
			Queue: queue, Limit: batch, WorkerID: worker, Now: base, LeaseUntil: at(time.Minute),
		})
		if err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		outcomes := make([]store.Outcome, len(claimed))
		for i, c := range claimed {
			outcomes[i] = store.Outcome{ID: c.ID, Attempt: c.Attempt, Status: statuses[(i+r)%len(statuses)], WorkerID: worker}
		}
		if _, err := s.FinishTasks(ctx(t), &store.FinishTasksParams{Now: base, Outcomes: outcomes, Brief: true}); err != nil {
			return fmt.Errorf("finish: %w", err)
		}
		if r%2 == 1 {
			if _, err := s.PruneTasks(ctx(t), &store.PruneTasksParams{EndedBefore: at(time.Hour), Queue: queue, Limit: batch / 2}); err != nil {
				return fmt.Errorf("prune: %w", err)
			}
		}
	}
	return nil
}

// requireCountsMatch checks ListQueues's counts against counting every
// task of every queue.
func requireCountsMatch(t *testing.T, s store.Store) {
	t.Helper()
	want := map[string]*store.QueueInfo{}
	p := &store.ListTasksParams{Limit: 1000}
	for {
		page, err := s.ListTasks(ctx(t), p)
		require.NoError(t, err)
		for _, task := range page.Tasks {
			q := want[task.Queue]
			if q == nil {
				q = &store.QueueInfo{QueueConfig: store.QueueConfig{Name: task.Queue}}
				want[task.Queue] = q
			}
			switch task.Status {
			case loom.StatusPending:
				q.Pending++
			case loom.StatusRunning:
				q.Running++
			case loom.StatusCompleted:
				q.Completed++
			case loom.StatusFailed:
				q.Failed++
			case loom.StatusCancelled:
				q.Cancelled++
			}
		}
		if page.Next == "" {
			break
		}
		p.Cursor = page.Next
	}
	got, err := s.ListQueues(ctx(t))
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for _, q := range got {
		require.NotNil(t, want[q.Name], "queue %s", q.Name)
		require.Equal(t, *want[q.Name], q, "queue %s", q.Name)
	}
}
