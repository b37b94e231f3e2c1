package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
)

// claim claims up to max tasks of queue for worker, waiting up to wait.
func claimFor(t *testing.T, te *testEngine, worker, queue string, max int, wait time.Duration) []*loom.TaskInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait+10*time.Second)
	defer cancel()
	ts, err := te.Claim(ctx, &engine.ClaimParams{WorkerID: worker, Queues: []string{queue}, Max: max, Wait: wait})
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	return ts
}

// TestPullWorker claims, heartbeats, logs and completes a task the way the
// HTTP worker protocol does, on a queue the engine itself never runs.
func TestPullWorker(t *testing.T) {
	t.Parallel()
	te := setup(t, nil, engine.Config{PullQueues: []engine.Queue{{Name: "py"}}}, noop("known"))
	ctx := context.Background()
	// A type the engine runs itself still waits for a pull worker here.
	known := te.submit(t, &engine.SubmitParams{Type: "known", Queue: "py"})
	job := te.submit(t, &engine.SubmitParams{Type: "py-job", Queue: "py", Input: loom.Values{"n": 1.0}, Attributes: map[string]any{"k": "v"}})
	got := claimFor(t, te, "w1", "py", 10, 0)
	if len(got) != 2 || got[0].ID != known.ID || got[1].ID != job.ID {
		t.Fatalf("claimed %v, want both tasks", got)
	}
	for _, c := range got {
		if c.Attempt != 1 || c.WorkerID != "w1" || c.Status != loom.StatusRunning {
			t.Errorf("claimed %+v", c)
		}
	}
	if got[1].Attributes["k"] != "v" || got[1].Input["n"] != 1.0 {
		t.Errorf("claimed task lacks its input or attributes: %+v", got[1])
	}
	l := store.Lease{ID: job.ID, Attempt: 1}
	if _, err := te.Heartbeat(ctx, "w1", l); err != nil {
		t.Fatal(err)
	}
	if err := te.AppendLog(ctx, "w1", l, "", "line 1\n"); err != nil {
		t.Fatal(err)
	}
	if err := te.AppendLog(ctx, "w1", l, loom.LogStderr, "oops\n"); err != nil {
		t.Fatal(err)
	}
	if err := te.AppendLog(ctx, "w1", l, "stdin", "x"); !errors.Is(err, engine.ErrInvalid) {
		t.Fatalf("log on an unknown stream: %v, want ErrInvalid", err)
	}
	if cs, err := te.Logs(ctx, &store.GetLogsParams{TaskID: job.ID}); err != nil || len(cs) != 2 ||
		cs[0].Stream != loom.LogStdout || cs[1].Stream != loom.LogStderr || cs[1].Data != "oops\n" {
		t.Fatalf("logs %+v, %v: want line 1 on stdout, oops on stderr", cs, err)
	}
	// Another worker's calls for the attempt are refused.
	if _, err := te.Heartbeat(ctx, "w2", l); !errors.Is(err, engine.ErrStaleLease) || !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("heartbeat by another worker: %v, want ErrStaleLease", err)
	}
	if err := te.AppendLog(ctx, "w2", l, "", "x"); !errors.Is(err, engine.ErrStaleLease) {
		t.Fatalf("log by another worker: %v", err)
	}
	if _, err := te.Finish(ctx, &engine.PullOutcome{WorkerID: "w2", Lease: l}); !errors.Is(err, engine.ErrStaleLease) {
		t.Fatalf("result by another worker: %v", err)
	}
	started := time.Now().Add(-time.Second).UTC().Truncate(time.Millisecond)
	done, err := te.Finish(ctx, &engine.PullOutcome{WorkerID: "w1", Lease: l, Output: loom.Values{"n": 2.0}, Msg: "fine", Started: started})
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != loom.StatusCompleted || done.Msg != "fine" || done.Output["n"] != 2.0 || !done.Started.Equal(started) {
		t.Fatalf("finished: %s %q %v started %v", done.Status, done.Msg, done.Output, done.Started)
	}
	if _, err := te.Finish(ctx, &engine.PullOutcome{WorkerID: "w1", Lease: l}); !errors.Is(err, engine.ErrStaleLease) {
		t.Fatalf("a second result: %v", err)
	}
	logs, err := te.Logs(ctx, &store.GetLogsParams{TaskID: job.ID})
	if err != nil || len(logs) != 2 || logs[0].Data != "line 1\n" || logs[0].Attempt != 1 {
		t.Fatalf("logs %v, %v", logs, err)
	}
	// A failure follows the task's budget: retried, then failed.
	if _, err := te.Finish(ctx, &engine.PullOutcome{WorkerID: "w1", Lease: store.Lease{ID: known.ID, Attempt: 1}, Err: loom.Permanent(errors.New("no"))}); err != nil {
		t.Fatal(err)
	}
	if got := te.wait(t, known.ID); got.Status != loom.StatusFailed || got.Msg != "no" {
		t.Fatalf("failed: %s %q", got.Status, got.Msg)
	}
	workers, err := te.store.ListWorkers(ctx, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, w := range workers {
		seen = seen || w.ID == "w1" && len(w.Queues) == 1 && w.Queues[0] == "py"
	}
	if !seen {
		t.Errorf("pull worker w1 is not in the worker list: %+v", workers)
	}
}

// TestPullClaimWaits: a claim with a wait returns the task submitted
// while it waited, and an empty list when the wait ends with none.
func TestPullClaimWaits(t *testing.T) {
	t.Parallel()
	te := setup(t, nil, engine.Config{PullQueues: []engine.Queue{{Name: "py"}}})
	if got := claimFor(t, te, "w1", "py", 1, 50*time.Millisecond); len(got) != 0 {
		t.Fatalf("claimed %v from an empty queue", got)
	}
	claimed := make(chan []*loom.TaskInfo, 1)
	go func() {
		ts, _ := te.Claim(context.Background(), &engine.ClaimParams{WorkerID: "w1", Queues: []string{"py"}, Wait: time.Minute})
		claimed <- ts
	}()
	job := te.submit(t, &engine.SubmitParams{Type: "py-job", Queue: "py"})
	if got := <-claimed; len(got) != 1 || got[0].ID != job.ID {
		t.Fatalf("the waiting claim got %v", got)
	}
	_, err := te.Claim(context.Background(), &engine.ClaimParams{WorkerID: "w1", Queues: []string{loom.DefaultQueue}})
	if !errors.Is(err, engine.ErrInvalid) {
		t.Fatalf("claim from a queue the engine runs: %v, want ErrInvalid", err)
	}
}

// TestPullLeaseLapse: a pull worker that stops heart-beating loses its
// attempt; the task runs again as attempt 2 on another worker, and the
// first worker's late result is refused.
func TestPullLeaseLapse(t *testing.T) {
	t.Parallel()
	// Leases count real time whatever the engine's clock: a short one
	// lapses while the test waits.
	te := setup(t, nil, engine.Config{PullQueues: []engine.Queue{{Name: "py"}},
		LeaseDuration: 1500 * time.Millisecond, HeartbeatInterval: 300 * time.Millisecond, ReapInterval: 50 * time.Millisecond})
	job := te.submit(t, &engine.SubmitParams{Type: "py-job", Queue: "py", MaxAttempts: 1})
	if first := claimFor(t, te, "slow", "py", 1, 0); len(first) != 1 {
		t.Fatal("nothing claimed")
	}
	// The reaper takes the attempt back once its lease lapsed.
	var second []*loom.TaskInfo
	eventually(t, "the lapsed task claimed again", func() bool {
		second = claimFor(t, te, "fast", "py", 1, 0)
		return len(second) == 1
	})
	if second[0].Attempt != 2 {
		t.Fatalf("after the lapse claimed attempt %d, want 2", second[0].Attempt)
	}
	ctx := context.Background()
	if _, err := te.Finish(ctx, &engine.PullOutcome{WorkerID: "slow", Lease: store.Lease{ID: job.ID, Attempt: 1}}); !errors.Is(err, engine.ErrStaleLease) {
		t.Fatalf("late result: %v, want ErrStaleLease", err)
	}
	got, err := te.Finish(ctx, &engine.PullOutcome{WorkerID: "fast", Lease: store.Lease{ID: job.ID, Attempt: 2}})
	if err != nil || got.Status != loom.StatusCompleted || got.Attempt != 2 || got.LeaseExpiries != 1 {
		t.Fatalf("re-run: %+v, %v", got, err)
	}
}
