package engine

import (
	"sync"

	"github.com/loomhq/loom"
)

// advanceQueue holds the flows whose steps changed and need advancing,
// coalescing repeats: ten steps of one flow ending in one batch advance it
// once.
type advanceQueue struct {
	mu     sync.Mutex
	ids    map[string]struct{}
	order  []string
	signal chan struct{}
	// holder, when the engine's clock moves by itself, is held from a push
	// until the flows pushed are advanced (see Engine.notify).
	holder loom.Holder
	held   func()
}

func (q *advanceQueue) init(h loom.Holder) {
	q.ids = make(map[string]struct{})
	q.signal = make(chan struct{}, 1)
	q.holder = h
}

func (q *advanceQueue) push(id string) {
	q.mu.Lock()
	if q.holder != nil && q.held == nil {
		q.held = q.holder.Hold()
	}
	if _, ok := q.ids[id]; !ok {
		q.ids[id] = struct{}{}
		q.order = append(q.order, id)
	}
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// releaseHold lets go of the clock hold of flows that will not be
// advanced (the engine stops).
func (q *advanceQueue) releaseHold() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.held != nil {
		q.held()
		q.held = nil
	}
}

// take returns the queued ids and empties the queue, with the release of
// the clock hold their pushes took, for after they are advanced.
func (q *advanceQueue) take() ([]string, func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ids := q.order
	q.order = nil
	clear(q.ids)
	release := q.held
	q.held = nil
	if release == nil {
		release = func() {}
	}
	return ids, release
}
