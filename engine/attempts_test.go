package engine_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/loomtest"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/sqlite"
)

// TestClaimedBatchKeepsBudget has a process claim a batch and vanish
// before starting any of it: each task's one-retry budget is intact, so a
// task that fails once still completes in its second run.
func TestClaimedBatchKeepsBudget(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	now := time.Now()
	tasks := make([]*loom.TaskInfo, 5)
	for i := range tasks {
		tasks[i] = &loom.TaskInfo{Type: "fails-once", MaxAttempts: 2}
	}
	res, err := st.InsertTasks(ctx, &store.InsertTasksParams{Now: now, Tasks: tasks})
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := st.ClaimTasks(ctx, &store.ClaimTasksParams{Queue: loom.DefaultQueue, Limit: 10, WorkerID: "ghost",
		Now: now, LeaseUntil: now.Add(50 * time.Millisecond)})
	if err != nil || len(claimed) != len(tasks) {
		t.Fatalf("claim: %d tasks, %v", len(claimed), err)
	}
	var mu sync.Mutex
	runs := map[string]int{}
	failsOnce := &loom.Task{
		Name:  "fails-once",
		Retry: loom.FixedRetry(2, time.Millisecond),
		Handler: loom.HandlerFunc(func(ctx context.Context, _ loom.Values) (loom.Values, error) {
			a, _ := loom.Attempt(ctx)
			mu.Lock()
			runs[a.RunID]++
			n := runs[a.RunID]
			mu.Unlock()
			if n == 1 {
				return nil, errors.New("first run fails")
			}
			return loom.Values{}, nil
		}),
	}
	te := setup(t, st, engine.Config{}, failsOnce)
	for _, r := range res {
		got := te.wait(t, r.Task.ID)
		if got.Status != loom.StatusCompleted || got.Attempt != 2 || got.LeaseExpiries != 1 {
			t.Errorf("task %s: %s in attempt %d after %d lease expiries (%q), want completed in attempt 2 after 1",
				got.ID, got.Status, got.Attempt, got.LeaseExpiries, got.Msg)
		}
		evs, err := te.Events(ctx, &store.ListEventsParams{TaskID: r.Task.ID})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, ev := range evs {
			if ev.Type == "requeued" {
				found = strings.Contains(ev.Msg, "lease expired before the start of attempt 1 was recorded")
			}
		}
		if !found {
			t.Errorf("task %s: no requeued event saying the lease expired before the attempt started: %+v", got.ID, evs)
		}
	}
}

// TestDefaultBackoff fails a task of a type without a retry policy, on a
// fake clock: each retry waits about twice as long as the one before,
// starting near DefaultRetryDelay, never zero.
func TestDefaultBackoff(t *testing.T) {
	t.Parallel()
	clock := loomtest.NewFakeClock(time.Time{})
	te := setup(t, nil, engine.Config{Clock: clock, Handlers: map[string]loom.Handler{
		"always-fails": loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
			return nil, errors.New("down")
		}),
	}})
	info := te.submit(t, &engine.SubmitParams{Type: "always-fails", MaxAttempts: 5})
	// Move the clock on until the task has used its five attempts; how far
	// each step goes does not matter, the events record the delays.
	var got *loom.TaskInfo
	eventually(t, "the task to fail", func() bool {
		g, err := te.Get(context.Background(), info.ID)
		if err != nil {
			t.Fatal(err)
		}
		got = g
		clock.Advance(250 * time.Millisecond)
		return g.Status.Terminal()
	})
	if got.Status != loom.StatusFailed || got.Attempt != 5 {
		t.Fatalf("got %s in attempt %d, want failed in attempt 5", got.Status, got.Attempt)
	}
	evs, err := te.Events(context.Background(), &store.ListEventsParams{TaskID: info.ID})
	if err != nil {
		t.Fatal(err)
	}
	want := engine.DefaultRetryDelay
	retries := 0
	for _, ev := range evs {
		if ev.Type != "retrying" {
			continue
		}
		retries++
		at, err := time.Parse(time.RFC3339Nano, ev.Data["retry_at"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if delay := at.Sub(ev.Time); delay < want*8/10 || delay > want*12/10 {
			t.Errorf("attempt %d: retry after %s, want %s ±20%%", ev.Attempt, delay, want)
		}
		want *= 2
	}
	if retries != 4 {
		t.Fatalf("%d retries, want 4: %+v", retries, evs)
	}
}

// crashLoopEnv names the database of TestCrashLoopHelperProcess; set, the
// test binary runs an engine on it whose handler kills the process.
const crashLoopEnv = "LOOM_TEST_CRASH_LOOP_DB"

// TestCrashLoopFails runs an engine in a child process whose handler kills
// that process, again and again, each child on the same database: after
// DefaultMaxLeaseExpiries runs lost this way the task fails, saying why.
func TestCrashLoopFails(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "loom.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.InsertTasks(ctx, &store.InsertTasksParams{Now: time.Now(),
		Tasks: []*loom.TaskInfo{{Type: "crashes", MaxAttempts: 10}}})
	if err != nil {
		t.Fatal(err)
	}
	id := res[0].Task.ID
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	crashes := 0
	for child := 1; ; child++ {
		if child > 10 {
			t.Fatalf("the task still runs after %d crashes", crashes)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashLoopHelperProcess$")
		cmd.Env = append(os.Environ(), crashLoopEnv+"="+path)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == crashExitCode {
			crashes++
			continue
		}
		if err != nil {
			t.Fatalf("child %d: %v\n%s", child, err, out)
		}
		break
	}
	st, err = sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.GetTask(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != loom.StatusFailed || got.Msg != store.LostRunsMsg(engine.DefaultMaxLeaseExpiries) {
		t.Fatalf("after %d crashes: %s %q, want failed with %q", crashes, got.Status, got.Msg, store.LostRunsMsg(engine.DefaultMaxLeaseExpiries))
	}
	// The first crash came before the start was recorded (unless a
	// heartbeat fell just between), so it counts as a lost claim; each
	// later run recorded its start first.
	if max := engine.DefaultMaxLeaseExpiries; crashes < max || crashes > max+1 || got.Attempt != max {
		t.Errorf("%d crashes, attempt %d; want %d crashes and attempt %d", crashes, got.Attempt, max+1, max)
	}
	evs, err := st.ListEvents(ctx, &store.ListEventsParams{TaskID: id})
	if err != nil {
		t.Fatal(err)
	}
	lapses := 0
	for _, ev := range evs {
		if ev.Type == "requeued" || (ev.Type == "failed" && ev.Msg == got.Msg) {
			lapses++
			if !strings.Contains(ev.Msg, "lease expired") {
				t.Errorf("%s event %q does not say the lease expired", ev.Type, ev.Msg)
			}
		}
	}
	// A slow machine may let a lease lapse before its attempt started as
	// well: such lapses cost nothing, but are counted and reported.
	if lapses != got.LeaseExpiries || lapses < crashes {
		t.Errorf("%d lapse events and %d lease expiries for %d crashes", lapses, got.LeaseExpiries, crashes)
	}
}

// crashExitCode is how the crashing handler ends its process.
const crashExitCode = 3

// TestCrashLoopHelperProcess is the child of TestCrashLoopFails: it runs
// an engine whose "crashes" handler kills the process, and exits 0 once
// the task has ended.
func TestCrashLoopHelperProcess(t *testing.T) {
	path := os.Getenv(crashLoopEnv)
	if path == "" {
		t.Skip("run by TestCrashLoopFails")
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Config{
		Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		LeaseDuration: 500 * time.Millisecond, ReapInterval: 20 * time.Millisecond, PollInterval: 20 * time.Millisecond,
		Handlers: map[string]loom.Handler{"crashes": loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
			os.Exit(crashExitCode)
			return nil, nil
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		page, err := st.ListTasks(ctx, &store.ListTasksParams{})
		if err == nil && len(page.Tasks) == 1 && page.Tasks[0].Status.Terminal() {
			os.Exit(0)
		}
		time.Sleep(20 * time.Millisecond)
	}
	os.Exit(1)
}
