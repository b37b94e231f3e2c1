package loom

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
)

// TestSemaphoreBounds has many goroutines take and give back slots, some
// giving up on theirs: never more than limit are held at once, every
// waiter that stays gets a slot, and at the end all are free and nobody
// is queued.
func TestSemaphoreBounds(t *testing.T) {
	t.Parallel()
	const limit, workers, rounds = 3, 12, 200
	s := newSemaphore(limit)
	var held, most, took atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				ctx, cancel := context.WithCancel(context.Background())
				if (w+i)%5 == 0 {
					cancel() // this one gives up at once, or soon after queueing
				}
				if s.acquire(ctx) {
					n := held.Add(1)
					for {
						m := most.Load()
						if n <= m || most.CompareAndSwap(m, n) {
							break
						}
					}
					took.Add(1)
					held.Add(-1)
					s.release()
				}
				cancel()
			}
		})
	}
	wg.Wait()
	if m := most.Load(); m > limit {
		t.Errorf("%d slots held at once, limit %d", m, limit)
	}
	if took.Load() < workers*rounds*4/5 {
		t.Errorf("only %d of %d acquires took a slot", took.Load(), workers*rounds)
	}
	if u, w := s.used.Load(), s.waiting.Load(); u != 0 || w != 0 || len(s.queue) != 0 {
		t.Errorf("at rest: %d used, %d waiting, %d queued; want none", u, w, len(s.queue))
	}
}

// TestSemaphoreWait: a waiter is handed the slot a release frees, and one
// that gives up after being handed a slot passes it on.
func TestSemaphoreWait(t *testing.T) {
	t.Parallel()
	s := newSemaphore(1)
	if !s.tryAcquire() {
		t.Fatal("first slot not free")
	}
	w, w2 := newWaiter(), newWaiter()
	if s.wait(w) || s.wait(w2) {
		t.Fatal("took a slot that is held")
	}
	s.release() // hands the slot to w
	select {
	case <-w:
	default:
		t.Fatal("release did not hand the slot to the first waiter")
	}
	s.release() // w's slot goes to w2
	select {
	case <-w2:
	default:
		t.Fatal("release did not hand the slot to the second waiter")
	}
	w3 := newWaiter()
	s.wait(w3)
	s.giveUp(w3) // queued, never handed a slot
	s.release()
	if u := s.used.Load(); u != 0 || len(s.queue) != 0 {
		t.Errorf("at rest: %d used, %d queued; want none", u, len(s.queue))
	}
	// A waiter handed a slot just as it gives up passes it on.
	if !s.tryAcquire() {
		t.Fatal("slot not free")
	}
	w4 := newWaiter()
	s.wait(w4)
	s.release() // hands it to w4
	s.giveUp(w4)
	if u := s.used.Load(); u != 0 {
		t.Errorf("a slot handed to a waiter that gave up stays held: %d used", u)
	}
	if len(w4) != 0 {
		t.Error("the channel of a waiter that gave up is not empty")
	}
}
