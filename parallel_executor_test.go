package loom_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/loomhq/loom"
)

// peakCounter counts the handlers running at once and the most seen.
type peakCounter struct{ now, peak atomic.Int32 }

func (c *peakCounter) enter() int32 {
	n := c.now.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			return n
		}
	}
}

func (c *peakCounter) leave() { c.now.Add(-1) }

// Plain tasks given to Start and Execute share the Parallelism slots: 12
// runs with Parallelism 3 never have more than 3 handlers running.
func TestParallelExecutorBoundsPlainTasks(t *testing.T) {
	t.Parallel()
	const runs, par = 12, 3
	var c peakCounter
	started := make(chan struct{}, runs)
	gate := make(chan struct{})
	work := loom.NewTask("work", handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		c.enter()
		defer c.leave()
		started <- struct{}{}
		<-gate
		return nil, nil
	}))
	ex := loom.NewParallelExecutor(loom.Config{State: newState(), Parallelism: par})
	ctx := context.Background()
	hs := make([]loom.Handle, 0, runs)
	for range runs - 1 {
		h, err := ex.Start(ctx, work, nil)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	// Every slot is taken before any handler may end, so a run beyond
	// the bound would be seen by the counter.
	for range par {
		<-started
	}
	close(gate)
	if _, err := ex.Execute(ctx, work, nil); err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if _, err := h.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if p := c.peak.Load(); p != par {
		t.Errorf("peak concurrency = %d, want %d", p, par)
	}
}

// A handler holding a slot that runs another task on the same executor
// (and a flow step that does) runs it in its own slot instead of waiting
// for one that may never come free.
func TestParallelExecutorNestedWorkDoesNotDeadlock(t *testing.T) {
	t.Parallel()
	const par = 2
	ex := loom.NewParallelExecutor(loom.Config{State: newState(), Parallelism: par})
	var inner atomic.Int32
	leaf := loom.NewTask("leaf", handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		inner.Add(1)
		return nil, nil
	}))
	var all sync.WaitGroup
	all.Add(par)
	outer := loom.NewTask("outer", handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		all.Done()
		all.Wait() // every slot is held before any nested run starts
		if _, err := ex.Execute(ctx, leaf, nil); err != nil {
			return nil, err
		}
		h, err := ex.Start(ctx, leaf, nil)
		if err != nil {
			return nil, err
		}
		_, err = h.Wait(ctx)
		return nil, err
	}))
	ctx := context.Background()
	hs := make([]loom.Handle, 0, par)
	for range par {
		h, err := ex.Start(ctx, outer, nil)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	for _, h := range hs {
		if _, err := h.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := inner.Load(); n != 2*par {
		t.Fatalf("nested runs = %d, want %d", n, 2*par)
	}

	// The same inside a flow whose steps take every slot.
	all.Add(par)
	flow, _ := mustFlow(t, "nested", loom.FlowDef{Steps: []loom.Step{
		{Name: "a", Task: outer}, {Name: "b", Task: outer},
	}})
	if _, err := ex.Execute(ctx, flow, nil); err != nil {
		t.Fatal(err)
	}
	if n := inner.Load(); n != 4*par {
		t.Fatalf("nested runs = %d, want %d", n, 4*par)
	}
}
