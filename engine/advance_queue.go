package engine

import (
	"sync"

	"github.com/loomhq/loom"
)

// advanceQueue holds the flows whose steps changed and need advancing,
// with the steps that ended, coalescing repeats: ten steps of one flow
// ending in one batch advance it once.
type advanceQueue struct {
	mu     sync.Mutex
	items  map[string]*advanceItem
	order  []*advanceItem
	signal chan struct{}
}

// advanceItem is one flow to advance and the children that ended since it
// was last advanced.
type advanceItem struct {
	id    string
	ended []*loom.TaskInfo
}

func (q *advanceQueue) init() {
	q.items = make(map[string]*advanceItem)
	q.signal = make(chan struct{}, 1)
}

// push queues the flow id to be advanced.
func (q *advanceQueue) push(id string) { q.add(id, nil) }

// pushEnded queues t's flow with t among its ended children.
func (q *advanceQueue) pushEnded(t *loom.TaskInfo) { q.add(t.ParentID, t) }

func (q *advanceQueue) add(id string, t *loom.TaskInfo) {
	q.mu.Lock()
	it, ok := q.items[id]
	if !ok {
		it = &advanceItem{id: id}
		q.items[id] = it
		q.order = append(q.order, it)
	}
	if t != nil {
		it.ended = append(it.ended, t)
	}
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// take returns the queued flows and empties the queue.
func (q *advanceQueue) take() []*advanceItem {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.order
	q.order = nil
	clear(q.items)
	return items
}
