package engine

import "sync"

// advanceQueue holds the flows whose steps changed and need advancing,
// coalescing repeats: ten steps of one flow ending in one batch advance it
// once.
type advanceQueue struct {
	mu     sync.Mutex
	ids    map[string]struct{}
	order  []string
	signal chan struct{}
}

func (q *advanceQueue) init() {
	q.ids = make(map[string]struct{})
	q.signal = make(chan struct{}, 1)
}

func (q *advanceQueue) push(id string) {
	q.mu.Lock()
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

// take returns the queued ids and empties the queue.
func (q *advanceQueue) take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	ids := q.order
	q.order = nil
	clear(q.ids)
	return ids
}
