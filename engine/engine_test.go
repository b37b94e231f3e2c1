package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
)

func TestSubmitCompletes(t *testing.T) {
	t.Parallel()
	double := loom.NewTask("double", loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		a, _ := loom.Attempt(ctx)
		fmt.Fprintf(loom.LogWriter(ctx), "doubling in attempt %d\n", a.Attempt)
		return loom.Values{"n": in["n"].(float64) * 2}, nil
	}))
	te := setup(t, nil, engine.Config{}, double)
	info := te.submit(t, &engine.SubmitParams{Type: "double", Input: loom.Values{"n": 21.0}})
	got := te.wait(t, info.ID)
	if got.Status != loom.StatusCompleted || got.Result != loom.ResultComplete || got.Output["n"] != 42.0 {
		t.Fatalf("got %s %s %v, want completed with n=42", got.Status, got.Result, got.Output)
	}
	logs, err := te.Logs(context.Background(), &store.GetLogsParams{TaskID: info.ID})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, c := range logs {
		text.WriteString(c.Data)
	}
	if text.String() != "doubling in attempt 1\n" {
		t.Fatalf("logs = %q", text.String())
	}
}

// TestLogStreams checks that what a handler writes to its attempt's
// stderr is kept apart from its stdout, in the order written.
func TestLogStreams(t *testing.T) {
	t.Parallel()
	noisy := loom.NewTask("noisy", loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		fmt.Fprint(loom.LogWriter(ctx), "out 1\n")
		fmt.Fprint(loom.LogStream(ctx, loom.LogStderr), "err 1\n")
		fmt.Fprint(loom.LogStream(ctx, loom.LogStdout), "out 2\n")
		fmt.Fprint(loom.LogStream(ctx, loom.LogStdout), "out 3\n")
		return nil, nil
	}))
	te := setup(t, nil, engine.Config{}, noisy)
	info := te.submit(t, &engine.SubmitParams{Type: "noisy"})
	te.wait(t, info.ID)
	logs, err := te.Logs(context.Background(), &store.GetLogsParams{TaskID: info.ID})
	if err != nil {
		t.Fatal(err)
	}
	// Chunks of one stream written in a row may be stored together or
	// apart, as flushes fall; what counts is the stream of every line.
	var got []string
	for _, c := range logs {
		if n := len(got); n > 0 && strings.HasPrefix(got[n-1], c.Stream+":") {
			got[n-1] += c.Data
			continue
		}
		got = append(got, c.Stream+":"+c.Data)
	}
	want := []string{"stdout:out 1\n", "stderr:err 1\n", "stdout:out 2\nout 3\n"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("logs = %q, want %q", got, want)
	}
}

func TestSubmitUnknownType(t *testing.T) {
	t.Parallel()
	te := setup(t, nil, engine.Config{})
	_, _, err := te.Submit(context.Background(), &engine.SubmitParams{Type: "nope"})
	if !errors.Is(err, engine.ErrUnknownType) {
		t.Fatalf("err = %v, want ErrUnknownType", err)
	}
}

func TestIdempotentSubmitReturnsExisting(t *testing.T) {
	t.Parallel()
	te := setup(t, nil, engine.Config{}, noop("once"))
	ctx := context.Background()
	first, created, err := te.Submit(ctx, &engine.SubmitParams{Type: "once", IdempotencyKey: "k1"})
	if err != nil || !created {
		t.Fatalf("first submit: created=%v err=%v", created, err)
	}
	second, created, err := te.Submit(ctx, &engine.SubmitParams{Type: "once", IdempotencyKey: "k1"})
	if err != nil || created {
		t.Fatalf("second submit: created=%v err=%v", created, err)
	}
	if second.ID != first.ID {
		t.Fatalf("second submit returned %s, want %s", second.ID, first.ID)
	}
}

func TestRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	var times [3]time.Time
	flaky := &loom.Task{
		Name:  "flaky",
		Retry: loom.ExponentialRetry(3, 20*time.Millisecond, 2, 0),
		Handler: loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
			n := calls.Add(1)
			times[n-1] = time.Now()
			if n < 3 {
				return nil, errors.New("try again")
			}
			return loom.Values{"ok": true}, nil
		}),
	}
	te := setup(t, nil, engine.Config{}, flaky)
	info := te.submit(t, &engine.SubmitParams{Type: "flaky"})
	if info.MaxAttempts != 3 {
		t.Fatalf("MaxAttempts = %d, want 3 from the retry policy", info.MaxAttempts)
	}
	got := te.wait(t, info.ID)
	if got.Status != loom.StatusCompleted || got.Attempt != 3 {
		t.Fatalf("got %s after %d attempts, want completed after 3", got.Status, got.Attempt)
	}
	if d := times[1].Sub(times[0]); d < 20*time.Millisecond {
		t.Errorf("first backoff %s, want >= 20ms", d)
	}
	if d := times[2].Sub(times[1]); d < 40*time.Millisecond {
		t.Errorf("second backoff %s, want >= 40ms", d)
	}
}

func TestPermanentErrorNotRetried(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	bad := &loom.Task{
		Name:  "bad",
		Retry: loom.FixedRetry(5, time.Millisecond),
		Handler: loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
			calls.Add(1)
			return nil, loom.Permanent(errors.New("bad input"))
		}),
	}
	te := setup(t, nil, engine.Config{}, bad)
	got := te.wait(t, te.submit(t, &engine.SubmitParams{Type: "bad"}).ID)
	if got.Status != loom.StatusFailed || got.Result != loom.ResultError || got.Msg != "bad input" {
		t.Fatalf("got %s %s %q, want failed with the error's text", got.Status, got.Result, got.Msg)
	}
	if calls.Load() != 1 {
		t.Fatalf("handler ran %d times, want 1", calls.Load())
	}
}

func TestTaskTimeoutStopsHandler(t *testing.T) {
	t.Parallel()
	started, stopped := make(chan struct{}), make(chan struct{})
	slow := loom.NewTask("slow", loom.HandlerFunc(func(ctx context.Context, _ loom.Values) (loom.Values, error) {
		close(started)
		<-ctx.Done()
		close(stopped)
		return nil, ctx.Err()
	}))
	te := setup(t, nil, engine.Config{}, slow)
	begin := time.Now()
	// Long enough that the handler starts first on a loaded machine.
	got := te.wait(t, te.submit(t, &engine.SubmitParams{Type: "slow", Timeout: 2 * time.Second}).ID)
	if got.Status != loom.StatusFailed || got.Result != loom.ResultError {
		t.Fatalf("status %s, want failed", got.Status)
	}
	if d := time.Since(begin); d < 2*time.Second {
		t.Fatalf("failed after %s, before its timeout", d)
	}
	select {
	case <-started:
	default:
		t.Fatal("the handler never started")
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler was not stopped at the task's timeout")
	}
}

func TestReaperRequeuesVanishedWorker(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	// A worker that claims the task and vanishes.
	now := time.Now()
	if _, err := st.InsertTasks(ctx, &store.InsertTasksParams{Now: now, Tasks: []*loom.TaskInfo{{ID: "lost-1", Type: "job"}}}); err != nil {
		t.Fatal(err)
	}
	claimed, err := st.ClaimTasks(ctx, &store.ClaimTasksParams{Queue: loom.DefaultQueue, Limit: 1, WorkerID: "ghost", Now: now, LeaseUntil: now.Add(50 * time.Millisecond)})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	te := setup(t, st, engine.Config{}, noop("job"))
	got := te.wait(t, "lost-1")
	// The ghost's claim never started a run: it does not count.
	if got.Status != loom.StatusCompleted || got.Attempt != 1 || got.WorkerID == "ghost" || got.LeaseExpiries != 1 {
		t.Fatalf("got %s attempt %d by %s after %d lease expiries, want completed in attempt 1 by the engine after 1",
			got.Status, got.Attempt, got.WorkerID, got.LeaseExpiries)
	}
}

func TestExpiredTaskFailed(t *testing.T) {
	t.Parallel()
	te := setup(t, nil, engine.Config{}, noop("later"))
	// Scheduled after its own deadline: the reaper fails it first.
	info := te.submit(t, &engine.SubmitParams{Type: "later", RunAt: time.Now().Add(time.Hour), Timeout: 30 * time.Millisecond})
	got := te.wait(t, info.ID)
	if got.Status != loom.StatusFailed || got.Attempt != 0 {
		t.Fatalf("got %s after %d attempts, want failed without running", got.Status, got.Attempt)
	}
}

func TestCancelStopsRunningHandler(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	stopped := make(chan error, 1)
	block := loom.NewTask("block", loom.HandlerFunc(func(ctx context.Context, _ loom.Values) (loom.Values, error) {
		close(started)
		<-ctx.Done()
		stopped <- context.Cause(ctx)
		return nil, ctx.Err()
	}))
	te := setup(t, nil, engine.Config{}, block)
	info := te.submit(t, &engine.SubmitParams{Type: "block"})
	<-started
	got, err := te.Cancel(context.Background(), info.ID, "changed my mind")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != loom.StatusCancelled {
		t.Fatalf("status %s, want cancelled", got.Status)
	}
	select {
	case cause := <-stopped:
		if !errors.Is(cause, loom.ErrCancelled) {
			t.Errorf("handler's context cause = %v, want ErrCancelled", cause)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler was not stopped")
	}
	if _, err := te.Cancel(context.Background(), info.ID, ""); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("second cancel: %v, want ErrConflict", err)
	}
	// Its outcome arriving later changes nothing.
	time.Sleep(20 * time.Millisecond)
	if again, _ := te.Get(context.Background(), info.ID); again.Status != loom.StatusCancelled {
		t.Fatalf("status after the handler returned: %s", again.Status)
	}
}

func TestRetryFailedTaskWithNewInput(t *testing.T) {
	t.Parallel()
	picky := loom.NewTask("picky", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
		if in["ok"] != true {
			return nil, errors.New("not ok")
		}
		return loom.Values{"done": true}, nil
	}))
	te := setup(t, nil, engine.Config{}, picky)
	info := te.submit(t, &engine.SubmitParams{Type: "picky"})
	if got := te.wait(t, info.ID); got.Status != loom.StatusFailed {
		t.Fatalf("status %s, want failed", got.Status)
	}
	if _, err := te.Retry(context.Background(), info.ID, loom.Values{"ok": true}); err != nil {
		t.Fatal(err)
	}
	if got := te.wait(t, info.ID); got.Status != loom.StatusCompleted {
		t.Fatalf("after retry: %s %q", got.Status, got.Msg)
	}
	if _, err := te.Retry(context.Background(), info.ID, nil); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("retrying a completed task: %v, want ErrConflict", err)
	}
}

func TestGracefulShutdownRequeues(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	started := make(chan struct{}, 10)
	stubborn := loom.NewTask("stubborn", loom.HandlerFunc(func(ctx context.Context, _ loom.Values) (loom.Values, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	quick := noop("quick")
	te := setup(t, st, engine.Config{ShutdownTimeout: 50 * time.Millisecond, Workers: 1}, stubborn, quick)
	info := te.submit(t, &engine.SubmitParams{Type: "stubborn"})
	<-started
	// Claimed by the prefetch but never started: the only worker is busy.
	queued := te.submit(t, &engine.SubmitParams{Type: "quick"})
	eventually(t, "quick claimed", func() bool {
		got, _ := te.Get(context.Background(), queued.ID)
		return got.Status == loom.StatusRunning
	})
	te.stop()
	// The stopped run counts as attempt 1; the claim that never started
	// gives its attempt back, leaving the budget of one run intact.
	wantAttempt := map[string]int{info.ID: 1, queued.ID: 0}
	for _, id := range []string{info.ID, queued.ID} {
		got, err := st.GetTask(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != loom.StatusPending || got.Attempt != wantAttempt[id] {
			t.Fatalf("%s after shutdown: %s in attempt %d, want pending in attempt %d", got.Type, got.Status, got.Attempt, wantAttempt[id])
		}
	}
	// Another engine on the same store finishes them.
	done := loom.NewTask("stubborn", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) { return nil, nil }))
	te2 := setup(t, st, engine.Config{}, done, quick)
	for _, id := range []string{info.ID, queued.ID} {
		got := te2.wait(t, id)
		if got.Status != loom.StatusCompleted || got.Attempt != wantAttempt[id]+1 {
			t.Fatalf("%s on the second engine: %s in attempt %d, want completed in attempt %d", got.Type, got.Status, got.Attempt, wantAttempt[id]+1)
		}
	}
}

func TestDistributedExecutorTask(t *testing.T) {
	t.Parallel()
	te := setup(t, nil, engine.Config{})
	x := engine.NewDistributedExecutor(te.Engine)
	var _ loom.Executor = x
	hello := loom.NewTask("hello", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
		return loom.Values{"greeting": "hello " + in["name"].(string)}, nil
	}))
	res, err := x.Execute(context.Background(), hello, loom.Values{"name": "loom"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Completed() || res.Output["greeting"] != "hello loom" || res.Attempts != 1 {
		t.Fatalf("result %+v", res)
	}
	failing := loom.NewTask("failing", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
		return nil, errors.New("boom")
	}))
	res, err = x.Execute(context.Background(), failing, nil)
	var runErr *loom.RunError
	if !errors.As(err, &runErr) || res.Status != loom.StatusFailed || res.Message != "boom" {
		t.Fatalf("failing: res=%+v err=%v", res, err)
	}
}

func TestOnlyTheLeaderReaps(t *testing.T) {
	t.Parallel()
	var leads atomic.Bool
	asked := make(chan struct{}, 100)
	te := setup(t, nil, engine.Config{Leads: func() bool {
		select {
		case asked <- struct{}{}:
		default:
		}
		return leads.Load()
	}}, noop("later"))
	info := te.submit(t, &engine.SubmitParams{Type: "later", RunAt: time.Now().Add(time.Hour), Timeout: time.Millisecond})
	time.Sleep(2 * time.Millisecond) // past its timeout
	// Three reaper rounds ask and find this server following: the
	// expired task is left to the leader.
	for range 3 {
		<-asked
	}
	got, err := te.Get(t.Context(), info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != loom.StatusPending {
		t.Fatalf("a follower reaped: the task is %s", got.Status)
	}
	leads.Store(true)
	if got = te.wait(t, info.ID); got.Status != loom.StatusFailed {
		t.Fatalf("got %s once leading, want failed", got.Status)
	}
}
