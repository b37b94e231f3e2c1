package engine_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
)

func TestPriorityOrderWithinQueue(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var order []float64
	rec := loom.NewTask("rec", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
		mu.Lock()
		order = append(order, in["p"].(float64))
		mu.Unlock()
		return nil, nil
	}))
	te := newTestEngine(t, nil, engine.Config{Workers: 1}, rec)
	// Stored before the engine runs, so that one claim sees them all.
	var ps []*engine.SubmitParams
	for _, p := range []int{3, 0, 9, 5, 1, 7} {
		ps = append(ps, &engine.SubmitParams{Type: "rec", Priority: p, Input: loom.Values{"p": p}})
	}
	res, err := te.SubmitMany(context.Background(), ps)
	if err != nil {
		t.Fatal(err)
	}
	te.start(t)
	for _, r := range res {
		te.wait(t, r.Task.ID)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []float64{9, 7, 5, 3, 1, 0}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("ran in order %v, want %v", order, want)
		}
	}
}

func TestQueueConcurrencyLimit(t *testing.T) {
	t.Parallel()
	var running, peak atomic.Int32
	busy := loom.NewTask("busy", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
		running.Add(-1)
		return nil, nil
	}))
	te := setup(t, nil, engine.Config{
		Workers: 8,
		Queues:  []engine.Queue{{Name: loom.DefaultQueue}, {Name: "narrow", Concurrency: 2}},
	}, busy)
	var ids []string
	for range 20 {
		ids = append(ids, te.submit(t, &engine.SubmitParams{Type: "busy", Queue: "narrow"}).ID)
	}
	for _, id := range ids {
		if got := te.wait(t, id); got.Status != loom.StatusCompleted {
			t.Fatalf("task %s: %s", id, got.Status)
		}
	}
	if p := peak.Load(); p != 2 {
		t.Fatalf("at most %d ran at once, want exactly the cap of 2", p)
	}
}

// TestBacklogNeedsNoPoll works down a backlog far larger than the workers'
// slots with a poll interval of an hour: every claim after the first must
// come from a wake, so a wake lost between a claim pass and the dispatcher's
// sleep leaves tasks waiting for the poll and the test never ends.
func TestBacklogNeedsNoPoll(t *testing.T) {
	t.Parallel()
	te := newTestEngine(t, nil, engine.Config{Workers: 4, DispatchBatch: 8, PollInterval: time.Hour}, noop("job"))
	const n = 3000
	ps := make([]*engine.SubmitParams, n)
	for i := range ps {
		ps[i] = &engine.SubmitParams{Type: "job"}
	}
	if _, err := te.SubmitMany(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
	te.start(t)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		qs, err := te.Queues(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, q := range qs {
			done += q.Completed
		}
		if done == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d tasks completed: the dispatcher waits for its poll", done, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
