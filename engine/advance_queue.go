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
	// holder, when the engine's clock moves by itself, is held from a push
	// until the flows pushed are advanced (see Engine.notify).
	holder loom.Holder
	held   func()
}

// advanceItem is one flow to advance and the children that ended since it
// was last advanced.
type advanceItem struct {
	id    string
	ended []*loom.TaskInfo
}

func (q *advanceQueue) init(h loom.Holder) {
	q.items = make(map[string]*advanceItem)
	q.signal = make(chan struct{}, 1)
	q.holder = h
}

// push queues the flow id to be advanced.
func (q *advanceQueue) push(id string) { q.add(id, nil) }

// pushEnded queues t's flow with t among its ended children.
func (q *advanceQueue) pushEnded(t *loom.TaskInfo) { q.add(t.ParentID, t) }

func (q *advanceQueue) add(id string, t *loom.TaskInfo) {
	q.mu.Lock()
	if q.holder != nil && q.held == nil {
		q.held = q.holder.Hold()
	}
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

// take returns the queued flows and empties the queue, with the release
// of the clock hold their pushes took, for after they are advanced.
func (q *advanceQueue) take() ([]*advanceItem, func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.order
	q.order = nil
	clear(q.items)
	release := q.held
	q.held = nil
	if release == nil {
		release = func() {}
	}
	return items, release
}
