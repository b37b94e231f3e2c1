package inproc

import (
	"sync"

	"github.com/loomhq/loom/bus"
)

// Hub routes published messages to the groups of their queue: the whole of
// an in-memory bus. Callers validate names, options and messages first.
type Hub struct {
	mu     sync.RWMutex
	closed bool
	eof    bool
	queues map[string]*queue
}

type queue struct {
	groups  map[string]*Group
	list    []*Group      // groups, for publishing without map iteration
	backlog []bus.Message // published before the queue had a group
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{queues: make(map[string]*queue)}
}

// Publish gives msgs to every group of queue name, or keeps them for the
// queue's first group if it has none yet.
func (h *Hub) Publish(name string, msgs []bus.Message) error {
	h.mu.RLock()
	if h.closed {
		h.mu.RUnlock()
		return bus.ErrClosed
	}
	if q := h.queues[name]; q != nil && len(q.list) > 0 {
		err := q.push(msgs)
		h.mu.RUnlock()
		return err
	}
	h.mu.RUnlock()

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return bus.ErrClosed
	}
	q := h.queue(name)
	if len(q.list) > 0 {
		return q.push(msgs)
	}
	q.backlog = append(q.backlog, msgs...)
	return nil
}

func (q *queue) push(msgs []bus.Message) error {
	for _, g := range q.list {
		if err := g.Push(msgs...); err != nil {
			return err
		}
	}
	return nil
}

// queue returns queue name, creating it; h.mu must be held for writing.
func (h *Hub) queue(name string) *queue {
	q := h.queues[name]
	if q == nil {
		q = &queue{groups: make(map[string]*Group)}
		h.queues[name] = q
	}
	return q
}

// Group returns group of queue name, creating it, and with it the queue, on
// first use; the first group of a queue takes the queue's backlog.
func (h *Hub) Group(name, group string) (*Group, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, bus.ErrClosed
	}
	q := h.queue(name)
	if g := q.groups[group]; g != nil {
		return g, nil
	}
	g := NewGroup(GroupConfig{})
	if err := g.Push(q.backlog...); err != nil {
		return nil, err
	}
	q.backlog = nil
	if h.eof {
		g.SetEOF()
	}
	q.groups[group] = g
	q.list = append(q.list, g)
	return g, nil
}

// SetEOF tells every group, present and future, that no more messages will
// be published.
func (h *Hub) SetEOF() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.eof = true
	for _, q := range h.queues {
		for _, g := range q.list {
			g.SetEOF()
		}
	}
}

// Close closes every group; later calls return bus.ErrClosed.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for _, q := range h.queues {
		for _, g := range q.list {
			g.Close()
		}
	}
	h.queues = nil
}
