package loom

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// semaphore is an executor's slots: at most limit holders at once. Taking
// a free slot with nobody waiting is one compare-and-swap and giving it
// back one atomic add, where a buffered channel locks it for each (every
// plain task of a ParallelExecutor takes a slot, so this is on its hot
// path). Waiters queue in order and are handed a slot by the release that
// frees it.
type semaphore struct {
	limit int64
	used  atomic.Int64
	// waiting counts queued waiters, and those about to queue, so that a
	// release need only look at the queue when someone waits.
	waiting atomic.Int64
	mu      sync.Mutex
	queue   []chan struct{} // each gets one send: the slot handed over
}

func newSemaphore(limit int) *semaphore { return &semaphore{limit: int64(limit)} }

// tryAcquire takes a slot if one is free.
func (s *semaphore) tryAcquire() bool {
	for {
		n := s.used.Load()
		if n >= s.limit {
			return false
		}
		if s.used.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// acquire takes a slot, waiting for one until ctx is done; it reports
// whether it took one.
func (s *semaphore) acquire(ctx context.Context) bool {
	if s.waiting.Load() == 0 && s.tryAcquire() {
		return true
	}
	w := waiters.Get().(chan struct{})
	defer waiters.Put(w) // empty again by then: received, or see giveUp
	if s.wait(w) {
		return true
	}
	select {
	case <-w:
		return true
	case <-ctx.Done():
		s.giveUp(w)
		return false
	}
}

// waiters are the channels of waiters gone, for the next to reuse: a
// channel is empty again once its slot was received or given up.
var waiters = sync.Pool{New: func() any { return newWaiter() }}

// newWaiter returns a channel for wait: it holds the one slot handed
// over, so that release never blocks on it.
func newWaiter() chan struct{} { return make(chan struct{}, 1) }

// wait takes a free slot (true) when nobody is queued, or queues w, an
// empty channel from newWaiter, on which the slot will be handed over. A
// waiter that stops waiting calls giveUp; w is empty again after either.
func (s *semaphore) wait(w chan struct{}) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Counted before the look at used, and release decrements used before
	// it looks at waiting: either this look sees the freed slot or that
	// release sees this waiter.
	s.waiting.Add(1)
	if len(s.queue) == 0 && s.tryAcquire() {
		s.waiting.Add(-1)
		return true
	}
	s.queue = append(s.queue, w)
	return false
}

// abandon takes w out of the queue. It reports true when a slot was
// handed to w before it could: the caller then holds that slot, and w is
// empty again.
func (s *semaphore) abandon(w chan struct{}) (holds bool) {
	s.mu.Lock()
	if i := slices.Index(s.queue, w); i >= 0 {
		s.queue = slices.Delete(s.queue, i, i+1)
		s.waiting.Add(-1)
		s.mu.Unlock()
		return false
	}
	s.mu.Unlock()
	<-w
	return true
}

// giveUp stops waiting on w, giving back the slot handed to it if any.
func (s *semaphore) giveUp(w chan struct{}) {
	if s.abandon(w) {
		s.release()
	}
}

// release gives a slot back, handing it to the first waiter if any.
func (s *semaphore) release() {
	s.used.Add(-1)
	if s.waiting.Load() == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// A slot taken meanwhile by tryAcquire is no loss: its holder's
	// release comes back here.
	for len(s.queue) > 0 && s.tryAcquire() {
		w := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.waiting.Add(-1)
		w <- struct{}{}
	}
}
