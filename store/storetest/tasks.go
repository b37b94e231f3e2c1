package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

var taskTests = []test{
	{"InsertDefaults", func(t *testing.T, s store.Store) {
		got := insert(t, s, newTask("email"))[0]
		id, err := uuid.Parse(got.ID)
		require.NoError(t, err)
		require.EqualValues(t, 7, id.Version())
		require.Equal(t, "email", got.Type)
		require.Equal(t, loom.DefaultQueue, got.Queue)
		require.Equal(t, loom.StatusPending, got.Status)
		requireTime(t, base, got.Created, "Created")
		requireTime(t, base, got.RunAt, "RunAt")
		requireTime(t, base.Add(loom.DefaultTaskTimeout), got.Timeout, "Timeout")
		require.Equal(t, 1, got.MaxAttempts)
		require.Zero(t, got.Attempt)

		stored := get(t, s, got.ID)
		require.Equal(t, got.ID, stored.ID)
		require.Equal(t, loom.DefaultQueue, stored.Queue)
		require.Equal(t, loom.StatusPending, stored.Status)
		requireTime(t, base, stored.Created, "Created")
		requireTime(t, base, stored.RunAt, "RunAt")
		requireTime(t, base.Add(6*time.Hour), stored.Timeout, "Timeout")
		require.Equal(t, 1, stored.MaxAttempts)
		require.Nil(t, stored.Started)
		require.Nil(t, stored.Ended)
		require.Nil(t, stored.LeaseUntil)
		require.Empty(t, stored.Result)
	}},
	{"RetryPolicyKept", func(t *testing.T, s store.Store) {
		retry := &loom.TaskRetry{InitialDelay: loom.Duration(2 * time.Second), BackoffFactor: 2,
			MaxDelay: loom.Duration(5 * time.Minute), Jitter: 0.2}
		tasks := insert(t, s,
			&loom.TaskInfo{Type: "job", Queue: "full", MaxAttempts: 3, Retry: retry},
			&loom.TaskInfo{Type: "job", Queue: "brief", MaxAttempts: 3, Retry: retry},
			&loom.TaskInfo{Type: "job", Queue: "none"})
		require.Equal(t, retry, get(t, s, tasks[0].ID).Retry, "Get")
		require.Nil(t, get(t, s, tasks[2].ID).Retry, "a task without a policy has none")
		require.Equal(t, retry, claimOne(t, s, "full", base).Retry, "full claim")
		brief, err := s.ClaimTasks(ctx(t), &store.ClaimTasksParams{
			Queue: "brief", Limit: 1, WorkerID: "w1", Now: base, LeaseUntil: at(time.Minute), Brief: true,
		})
		require.NoError(t, err)
		require.Len(t, brief, 1)
		require.Equal(t, retry, brief[0].Retry, "brief claim")
	}},
	{"TraceParentKept", func(t *testing.T, s store.Store) {
		// The trace context a task was created in comes back from every
		// read, a brief claim included: the dispatcher puts it on the bus.
		const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		traced := insert(t, s, &loom.TaskInfo{Type: "traced", Queue: "tq", TraceParent: tp}, &loom.TaskInfo{Type: "plain", Queue: "tq"})
		require.Equal(t, tp, traced[0].TraceParent)
		require.Equal(t, tp, get(t, s, traced[0].ID).TraceParent)
		require.Empty(t, get(t, s, traced[1].ID).TraceParent)
		claimed, err := s.ClaimTasks(ctx(t), &store.ClaimTasksParams{
			Queue: "tq", Limit: 2, WorkerID: "w", Now: at(time.Second), LeaseUntil: at(time.Minute), Brief: true,
		})
		require.NoError(t, err)
		require.Len(t, claimed, 2)
		for _, c := range claimed {
			if c.ID == traced[0].ID {
				require.Equal(t, tp, c.TraceParent)
			} else {
				require.Empty(t, c.TraceParent)
			}
		}
	}},
	{"InsertKeepsFields", func(t *testing.T, s store.Store) {
		id := uuid.Must(uuid.NewV7()).String()
		in := &loom.TaskInfo{
			ID: id, Type: "report", Queue: "q1", Info: "monthly", Priority: 5, MaxAttempts: 3,
			Attributes: map[string]any{"owner": "ops"},
			Input:      loom.Values{"n": 3.0, "name": "x"},
			Created:    at(-time.Hour), RunAt: at(time.Hour), Timeout: at(2 * time.Hour),
		}
		insert(t, s, in)
		got := get(t, s, id)
		require.Equal(t, "report", got.Type)
		require.Equal(t, "q1", got.Queue)
		require.Equal(t, "monthly", got.Info)
		require.Equal(t, 5, got.Priority)
		require.Equal(t, 3, got.MaxAttempts)
		require.Equal(t, map[string]any{"owner": "ops"}, got.Attributes)
		require.Equal(t, loom.Values{"n": 3.0, "name": "x"}, got.Input)
		requireTime(t, at(-time.Hour), got.Created, "Created")
		requireTime(t, at(time.Hour), got.RunAt, "RunAt")
		requireTime(t, at(2*time.Hour), got.Timeout, "Timeout")
		require.Equal(t, "monthly", in.Info, "the caller's task is not changed")
	}},
	{"InsertBatch", func(t *testing.T, s store.Store) {
		got := insertN(t, s, 200, "")
		seen := map[string]bool{}
		for _, task := range got {
			require.False(t, seen[task.ID], "duplicate id %s", task.ID)
			seen[task.ID] = true
			require.Equal(t, task.ID, get(t, s, task.ID).ID)
		}
	}},
	{"InsertInvalid", func(t *testing.T, s store.Store) {
		_, err := s.InsertTasks(ctx(t), &store.InsertTasksParams{Tasks: []*loom.TaskInfo{newTask("ok"), {}}, Now: base})
		require.ErrorIs(t, err, store.ErrInvalid)
		page, err := s.ListTasks(ctx(t), &store.ListTasksParams{})
		require.NoError(t, err)
		require.Empty(t, page.Tasks, "a failed batch creates nothing")
	}},
	{"InsertIdempotencyKey", func(t *testing.T, s store.Store) {
		first := insert(t, s, &loom.TaskInfo{Type: "pay", IdempotencyKey: "order-1", Input: loom.Values{"v": 1.0}})[0]
		res, err := s.InsertTasks(ctx(t), &store.InsertTasksParams{Now: at(time.Minute), Tasks: []*loom.TaskInfo{
			{Type: "pay", IdempotencyKey: "order-1", Input: loom.Values{"v": 2.0}},
			{Type: "pay", IdempotencyKey: "order-2"},
			{Type: "pay", IdempotencyKey: "order-2"},
		}})
		require.NoError(t, err)
		require.Len(t, res, 3)
		require.True(t, res[0].Existing)
		require.Equal(t, first.ID, res[0].Task.ID)
		require.Equal(t, loom.Values{"v": 1.0}, res[0].Task.Input, "the existing task is returned")
		require.False(t, res[1].Existing)
		require.True(t, res[2].Existing, "a duplicate within one batch")
		require.Equal(t, res[1].Task.ID, res[2].Task.ID)
		page, err := s.ListTasks(ctx(t), &store.ListTasksParams{})
		require.NoError(t, err)
		require.Len(t, page.Tasks, 2)
		require.Equal(t, []string{"created"}, eventTypes(t, s, first.ID), "no event for a deduplicated insert")
	}},
	{"ReleaseTaskKey", func(t *testing.T, s store.Store) {
		first := insert(t, s, &loom.TaskInfo{Type: "pay", IdempotencyKey: "order-1"})[0]
		release := func(id string) error {
			return s.ReleaseTaskKey(ctx(t), &store.ReleaseTaskKeyParams{Key: "order-1", TaskID: id, Now: at(time.Minute)})
		}
		require.ErrorIs(t, release(first.ID), store.ErrConflict, "a pending task keeps its key")
		claimed := claimOne(t, s, loom.DefaultQueue, at(time.Second))
		require.ErrorIs(t, release(claimed.ID), store.ErrConflict, "a running task keeps its key")
		finish(t, s, at(2*time.Second), store.Outcome{ID: first.ID, Attempt: claimed.Attempt, Status: loom.StatusFailed, Msg: "boom"})

		require.NoError(t, release(first.ID))
		got, err := s.GetTask(ctx(t), first.ID)
		require.NoError(t, err)
		require.Empty(t, got.IdempotencyKey)
		require.Equal(t, loom.StatusFailed, got.Status, "the task keeps its outcome")
		types := eventTypes(t, s, first.ID)
		require.Equal(t, "key_released", types[len(types)-1])

		second := insert(t, s, &loom.TaskInfo{Type: "pay", IdempotencyKey: "order-1"})[0]
		require.NotEqual(t, first.ID, second.ID, "the key makes a new task once released")
		require.NoError(t, release(first.ID), "releasing a key the task no longer holds is no error")
		require.ErrorIs(t, release(second.ID), store.ErrConflict, "nor does it free the new holder's key")
		require.ErrorIs(t, s.ReleaseTaskKey(ctx(t), &store.ReleaseTaskKeyParams{TaskID: first.ID}), store.ErrInvalid)
	}},
	{"InsertFlowStep", func(t *testing.T, s store.Store) {
		parent := insert(t, s, newTask("flow"))[0]
		other := insert(t, s, newTask("flow"))[0]
		a := insert(t, s, &loom.TaskInfo{Type: "step", ParentID: parent.ID, Step: "a"})[0]
		res, err := s.InsertTasks(ctx(t), &store.InsertTasksParams{Now: base, Tasks: []*loom.TaskInfo{
			{Type: "step", ParentID: parent.ID, Step: "a"},
			{Type: "step", ParentID: parent.ID, Step: "b"},
			{Type: "step", ParentID: other.ID, Step: "a"},
		}})
		require.NoError(t, err)
		require.True(t, res[0].Existing)
		require.Equal(t, a.ID, res[0].Task.ID)
		require.Equal(t, "a", res[0].Task.Step)
		require.False(t, res[1].Existing)
		require.False(t, res[2].Existing, "the same step name in another flow")
		children, err := s.ListChildren(ctx(t), parent.ID)
		require.NoError(t, err)
		require.Len(t, children, 2)
	}},
	{"GetNotFound", func(t *testing.T, s store.Store) {
		_, err := s.GetTask(ctx(t), uuid.Must(uuid.NewV7()).String())
		require.ErrorIs(t, err, store.ErrNotFound)
		require.True(t, errors.Is(err, loom.ErrNotFound))
	}},
	{"ListFilters", testListFilters},
	{"ListNewestFirst", func(t *testing.T, s store.Store) {
		var want []string
		for i := range 5 {
			want = append(want, insertAt(t, s, at(time.Duration(i)*time.Second), newTask("job"))[0].ID)
		}
		slices.Reverse(want)
		page, err := s.ListTasks(ctx(t), &store.ListTasksParams{})
		require.NoError(t, err)
		require.Equal(t, want, ids(page.Tasks))
		require.Empty(t, page.Next)
	}},
	{"ListLimit", func(t *testing.T, s store.Store) {
		insertN(t, s, 60, "")
		page, err := s.ListTasks(ctx(t), &store.ListTasksParams{})
		require.NoError(t, err)
		require.Len(t, page.Tasks, 50, "default page size")
		require.NotEmpty(t, page.Next)
		page, err = s.ListTasks(ctx(t), &store.ListTasksParams{Limit: 100})
		require.NoError(t, err)
		require.Len(t, page.Tasks, 60)
		require.Empty(t, page.Next)
		page, err = s.ListTasks(ctx(t), &store.ListTasksParams{Limit: 60})
		require.NoError(t, err)
		require.Len(t, page.Tasks, 60)
		require.Empty(t, page.Next, "no next page when the last one is exactly full")
	}},
	{"ListRunningPages", func(t *testing.T, s store.Store) {
		// Running tasks may be listed from where they are kept apart;
		// the order, filters and cursor must be those of any list.
		var want []string
		for i := range 5 {
			want = append([]string{insertAt(t, s, at(time.Duration(i)*time.Second), &loom.TaskInfo{Type: "job", Queue: "q"})[0].ID}, want...)
		}
		insertAt(t, s, at(10*time.Second), &loom.TaskInfo{Type: "job", Queue: "other"})
		insertAt(t, s, at(11*time.Second), &loom.TaskInfo{Type: "job", Queue: "q"}) // stays pending
		require.Len(t, claim(t, s, "q", 5, at(time.Minute)), 5)
		claim(t, s, "other", 1, at(time.Minute))
		var got []string
		p := &store.ListTasksParams{Status: []loom.Status{loom.StatusRunning}, Queue: "q", Limit: 2}
		for {
			page, err := s.ListTasks(ctx(t), p)
			require.NoError(t, err)
			got = append(got, ids(page.Tasks)...)
			if page.Next == "" {
				break
			}
			p.Cursor = page.Next
		}
		require.Equal(t, want, got, "newest first, page by page")
	}},
	{"ListPagingWhileInserting", testListPaging},
	{"ListBadCursor", func(t *testing.T, s store.Store) {
		for _, c := range []string{"%%%", "bm9wZQ", "MTI6"} {
			_, err := s.ListTasks(ctx(t), &store.ListTasksParams{Cursor: c})
			require.ErrorIs(t, err, store.ErrInvalid, "cursor %q", c)
		}
	}},
	{"ListChildren", func(t *testing.T, s store.Store) {
		parent := insert(t, s, newTask("flow"))[0]
		var want []string
		for i := range 3 {
			c := insertAt(t, s, at(time.Duration(i)*time.Second), &loom.TaskInfo{Type: "step", ParentID: parent.ID, Step: fmt.Sprint(i)})[0]
			want = append(want, c.ID)
		}
		insert(t, s, newTask("other"))
		got, err := s.ListChildren(ctx(t), parent.ID)
		require.NoError(t, err)
		require.Equal(t, want, ids(got), "oldest first")
		got, err = s.ListChildren(ctx(t), want[0])
		require.NoError(t, err)
		require.Empty(t, got)
	}},
	{"CountChildren", func(t *testing.T, s store.Store) {
		cc, ok := s.(store.ChildCounter)
		if !ok {
			t.Skip("the store does not count children")
		}
		parent := insert(t, s, newTask("fan"))[0]
		for i := range 5 {
			c := &loom.TaskInfo{Type: "item", ParentID: parent.ID, Step: fmt.Sprintf("map[%d]", i)}
			if i < 2 {
				c.Status, c.Result = loom.StatusSkipped, loom.ResultComplete
			}
			insert(t, s, c)
		}
		insert(t, s, newTask("other"))
		got, err := cc.CountChildren(ctx(t), parent.ID)
		require.NoError(t, err)
		require.Equal(t, map[loom.Status]int{loom.StatusPending: 3, loom.StatusSkipped: 2}, got)
		got, err = cc.CountChildren(ctx(t), "no-such-task")
		require.NoError(t, err)
		require.Empty(t, got)
	}},
}

func testListFilters(t *testing.T, s store.Store) {
	parent := insertAt(t, s, at(0), &loom.TaskInfo{Type: "flow", Queue: "flows"})[0]
	step := insertAt(t, s, at(time.Second), &loom.TaskInfo{Type: "step", Queue: "flows", ParentID: parent.ID, Step: "s1"})[0]
	mail := insertAt(t, s, at(2*time.Second), &loom.TaskInfo{Type: "email", Info: "Weekly Digest"})[0]
	keyed := insertAt(t, s, at(3*time.Second), &loom.TaskInfo{Type: "charge", IdempotencyKey: "invoice-42"})[0]
	running := insertAt(t, s, at(4*time.Second), &loom.TaskInfo{Type: "resize", Queue: "media"})[0]
	claimOne(t, s, "media", at(5*time.Second))

	list := func(p store.ListTasksParams) []string {
		t.Helper()
		page, err := s.ListTasks(ctx(t), &p)
		require.NoError(t, err)
		return ids(page.Tasks)
	}
	require.Equal(t, []string{running.ID, keyed.ID, mail.ID, step.ID, parent.ID}, list(store.ListTasksParams{}))
	require.Equal(t, []string{running.ID}, list(store.ListTasksParams{Status: []loom.Status{loom.StatusRunning}}))
	require.Equal(t, []string{mail.ID}, list(store.ListTasksParams{Status: []loom.Status{loom.StatusPending}, Text: "email"}))
	require.Empty(t, list(store.ListTasksParams{Status: []loom.Status{loom.StatusRunning}, Text: "email"}))
	require.Equal(t, []string{keyed.ID, mail.ID, step.ID, parent.ID}, list(store.ListTasksParams{Status: []loom.Status{loom.StatusPending, loom.StatusFailed}}))
	require.Equal(t, []string{mail.ID}, list(store.ListTasksParams{Type: "email"}))
	require.Equal(t, []string{step.ID, parent.ID}, list(store.ListTasksParams{Queue: "flows"}))
	require.Equal(t, []string{step.ID}, list(store.ListTasksParams{ParentID: parent.ID}))
	require.Equal(t, []string{running.ID, keyed.ID, mail.ID, parent.ID}, list(store.ListTasksParams{TopLevel: true}))
	require.Equal(t, []string{keyed.ID, mail.ID}, list(store.ListTasksParams{CreatedAfter: at(time.Second), CreatedBefore: at(4 * time.Second)}))
	require.Equal(t, []string{mail.ID}, list(store.ListTasksParams{Text: "digest"}), "text in info")
	require.Equal(t, []string{keyed.ID}, list(store.ListTasksParams{Text: "voice-4"}), "text in idempotency key")
	require.Equal(t, []string{keyed.ID}, list(store.ListTasksParams{Text: "harg"}), "text in type")
	require.Equal(t, []string{mail.ID}, list(store.ListTasksParams{Text: mail.ID[4:20]}), "text in id")
	require.Empty(t, list(store.ListTasksParams{Text: "%"}), "text is not a pattern")
	require.Empty(t, list(store.ListTasksParams{Type: "email", Queue: "media"}))

	// KeyPrefix: a schedule's runs, newest first, paged, and nothing of a
	// key that merely contains the prefix or extends the name.
	var runs []string
	for i := range 5 {
		runs = append(runs, insertAt(t, s, at(time.Duration(10+i)*time.Second), &loom.TaskInfo{Type: "report", IdempotencyKey: fmt.Sprintf("schedule:daily@2026-01-0%dT00:00:00Z", i+1)})[0].ID)
	}
	insertAt(t, s, at(20*time.Second), &loom.TaskInfo{Type: "report", IdempotencyKey: "schedule:daily-eu@2026-01-01T00:00:00Z"})
	insertAt(t, s, at(21*time.Second), &loom.TaskInfo{Type: "report", IdempotencyKey: "x-schedule:daily@2026-01-01T00:00:00Z"})
	slices.Reverse(runs)
	require.Equal(t, runs, list(store.ListTasksParams{KeyPrefix: "schedule:daily@"}))
	first, err := s.ListTasks(ctx(t), &store.ListTasksParams{KeyPrefix: "schedule:daily@", Limit: 3})
	require.NoError(t, err)
	require.Equal(t, runs[:3], ids(first.Tasks))
	require.Equal(t, runs[3:], list(store.ListTasksParams{KeyPrefix: "schedule:daily@", Cursor: first.Next}))
	require.Equal(t, runs[1:2], list(store.ListTasksParams{KeyPrefix: "schedule:daily@", CreatedAfter: at(12 * time.Second), CreatedBefore: at(14 * time.Second)}))
	require.Equal(t, []string{keyed.ID}, list(store.ListTasksParams{KeyPrefix: "invoice-"}))
	require.Empty(t, list(store.ListTasksParams{KeyPrefix: "invoice-", Type: "email"}))
}

func testListPaging(t *testing.T, s store.Store) {
	const n = 230
	want := map[string]bool{}
	batch := make([]*loom.TaskInfo, 0, n)
	for i := range n {
		// Pairs of tasks share a Created time, so that the cursor must
		// break ties by id.
		batch = append(batch, &loom.TaskInfo{Type: "job", Created: at(time.Duration(i/2) * time.Millisecond)})
	}
	for _, task := range insert(t, s, batch...) {
		want[task.ID] = true
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, err := s.InsertTasks(ctx(t), &store.InsertTasksParams{
				Tasks: []*loom.TaskInfo{newTask("job")}, Now: at(time.Hour + time.Duration(i)*time.Millisecond),
			})
			if err != nil {
				t.Errorf("concurrent insert: %v", err)
				return
			}
		}
	})
	var (
		got    []*loom.TaskInfo
		cursor string
	)
	for pages := 0; ; pages++ {
		require.Less(t, pages, 100, "paging does not end")
		page, err := s.ListTasks(ctx(t), &store.ListTasksParams{Type: "job", Limit: 17, Cursor: cursor})
		require.NoError(t, err)
		got = append(got, page.Tasks...)
		if page.Next == "" {
			break
		}
		cursor = page.Next
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()

	seen := map[string]bool{}
	for i, task := range got {
		require.False(t, seen[task.ID], "task %s on two pages", task.ID)
		seen[task.ID] = true
		if !want[task.ID] {
			require.False(t, task.Created.Before(at(time.Hour)), "unexpected task %s", task.ID)
		}
		if i > 0 {
			prev := got[i-1]
			newer := prev.Created.After(task.Created) || (prev.Created.Equal(task.Created) && prev.ID > task.ID)
			require.True(t, newer, "newest first: %s then %s", prev.ID, task.ID)
		}
	}
	for id := range want {
		require.True(t, seen[id], "task %s on no page", id)
	}
}
