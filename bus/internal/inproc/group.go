package inproc

import (
	"container/heap"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/loomhq/loom/bus"
)

type entryState uint8

const (
	stateReady   entryState = iota // waiting in the ready ring
	statePending                   // delivered, or nacked with a delay: in the pending heap
	stateAcked                     // done; dropped from the ring when reached
)

// Entry is one message in one group. Its fields other than Msg and Offset
// are guarded by the group's lock.
type Entry struct {
	// Msg is the message delivered.
	Msg bus.Message
	// Offset is where a log-backed Source read Msg (the byte offset of its
	// line in a file); Sources that do not need it leave it zero.
	Offset int64

	gen      uint32 // deliveries so far; a ticket acts only for its own
	state    entryState
	deadline time.Time // when a pending entry goes back to ready
	index    int       // position in the pending heap
}

// Acked reports whether e was acknowledged. Call it only from Source
// methods, which run with the group locked.
func (e *Entry) Acked() bool { return e.state == stateAcked }

// Source feeds a group from outside the process, such as a file that other
// processes append to. Its methods are called with the group locked, so they
// need no locking of their own for state only they touch.
type Source interface {
	// Fill pushes up to about want more messages, read from wherever the
	// source reads. It may push some and still return an error (a malformed
	// line it skipped): Receive delivers what was pushed and returns the
	// error on its next call.
	Fill(want int, push func(*Entry)) error
	// Acked is told of every acknowledged entry, so that the source can
	// commit its progress.
	Acked(e *Entry) error
}

// GroupConfig configures a Group. The zero value is a purely in-memory group.
type GroupConfig struct {
	// Source, when set, is asked for messages whenever a Receive finds too
	// few ready. Default none: messages come only from Push.
	Source Source
	// Poll is how often a waiting Receive asks Source again, to notice
	// messages that arrive without a Notify (another process appending to a
	// file). Zero means never: only Push and Notify wake receivers.
	Poll time.Duration
}

// Group is one consumer group of one queue: the messages not yet
// acknowledged, shared by the group's competing consumers. Receive blocks on
// a channel that Push signals, so an idle group costs no CPU; redelivery uses
// one timer per group, armed for the earliest deadline, never a goroutine
// per message.
type Group struct {
	src  Source
	poll time.Duration

	signal chan struct{} // capacity 1: "something changed, look again"
	closed chan struct{} // closed by Close

	mu       sync.Mutex
	ready    ring
	pending  pendingHeap
	isClosed bool
	eof      bool  // no more messages will ever be pushed
	deferred error // a Fill error to return on the next Receive
	timer    *time.Timer
	timerAt  time.Time // when timer fires; zero when disarmed
}

// NewGroup returns an empty group.
func NewGroup(cfg GroupConfig) *Group {
	return &Group{
		src:    cfg.Source,
		poll:   cfg.Poll,
		signal: make(chan struct{}, 1),
		closed: make(chan struct{}),
	}
}

// Push adds msgs to the group's ready queue and wakes a waiting receiver.
// It returns bus.ErrClosed once the group is closed.
func (g *Group) Push(msgs ...bus.Message) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.isClosed {
		return bus.ErrClosed
	}
	for i := range msgs {
		g.ready.push(&Entry{Msg: msgs[i], index: -1})
	}
	g.notify()
	return nil
}

// Notify wakes a waiting receiver so that it asks the Source for messages.
func (g *Group) Notify() { g.notify() }

// SetEOF tells the group no message will be pushed again: once every
// message is acknowledged, Receive returns io.EOF.
func (g *Group) SetEOF() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.eof = true
	g.notify()
}

// notify signals without blocking; one pending signal is enough, since a
// woken receiver passes the signal on when it leaves work behind.
func (g *Group) notify() {
	select {
	case g.signal <- struct{}{}:
	default:
	}
}

// Close stops the group: waiting and later Receives, and settling its
// deliveries, return bus.ErrClosed. Its messages are dropped.
func (g *Group) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.isClosed {
		return
	}
	g.isClosed = true
	close(g.closed)
	if g.timer != nil {
		g.timer.Stop()
	}
	g.ready.reset()
	g.pending = nil
}

// Receive implements bus.Consumer.Receive for a consumer of g whose
// deliveries are due back after ackWait, and which is closed when stop is.
func (g *Group) Receive(ctx context.Context, max int, ackWait time.Duration, stop <-chan struct{}) ([]bus.Delivery, error) {
	if max < 1 {
		max = 1
	}
	var poll *time.Timer
	defer func() {
		if poll != nil {
			poll.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		select {
		case <-stop:
			return nil, bus.ErrClosed
		default:
		}
		ds, err := g.take(max, ackWait)
		if len(ds) > 0 || err != nil {
			return ds, err
		}
		var pollC <-chan time.Time
		if g.src != nil && g.poll > 0 {
			if poll == nil {
				poll = time.NewTimer(g.poll)
			} else {
				poll.Reset(g.poll)
			}
			pollC = poll.C
		}
		select {
		case <-g.signal:
		case <-pollC:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-stop:
			return nil, bus.ErrClosed
		case <-g.closed:
			return nil, bus.ErrClosed
		}
	}
}

// take moves up to max ready entries to pending and returns them as
// deliveries, asking the Source for more first when too few are ready.
func (g *Group) take(max int, ackWait time.Duration) ([]bus.Delivery, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.isClosed {
		return nil, bus.ErrClosed
	}
	if err := g.deferred; err != nil {
		g.deferred = nil
		return nil, err
	}
	var fillErr error
	if g.src != nil && g.ready.len() < max {
		fillErr = g.src.Fill(max-g.ready.len(), g.pushLocked)
	}
	var ds []bus.Delivery
	now := time.Now()
	deadline := now.Add(ackWait)
	for len(ds) < max {
		e := g.ready.pop()
		if e == nil {
			break
		}
		if e.state == stateAcked {
			continue
		}
		if ds == nil {
			ds = make([]bus.Delivery, 0, min(max, g.ready.len()+1))
		}
		e.gen++
		e.state = statePending
		e.deadline = deadline
		heap.Push(&g.pending, e)
		ds = append(ds, bus.NewDelivery(e.Msg, e.gen > 1, ackWait, &ticket{g: g, e: e, gen: e.gen, ackWait: ackWait}))
	}
	if len(ds) > 0 {
		g.armTimer(now)
	}
	drained := len(ds) == 0 && g.eof && g.pending.Len() == 0
	if g.ready.len() > 0 || drained {
		// Leave the signal for the next waiter: there is work left, or the
		// news that there never will be.
		g.notify()
	}
	if fillErr != nil {
		if len(ds) == 0 {
			return nil, fillErr
		}
		g.deferred = fillErr
	}
	if drained {
		return nil, io.EOF
	}
	return ds, nil
}

// pushLocked is the push function handed to Source.Fill.
func (g *Group) pushLocked(e *Entry) {
	e.index = -1
	e.state = stateReady
	g.ready.push(e)
}

// armTimer makes sure the timer fires no later than the earliest pending
// deadline. A timer set earlier is left alone: when it fires it finds
// nothing due and re-arms for the next deadline.
func (g *Group) armTimer(now time.Time) {
	if g.pending.Len() == 0 {
		g.disarm()
		return
	}
	at := g.pending[0].deadline
	if !g.timerAt.IsZero() && !at.Before(g.timerAt) {
		return
	}
	if g.timer == nil {
		g.timer = time.AfterFunc(at.Sub(now), g.expire)
	} else {
		g.timer.Reset(at.Sub(now))
	}
	g.timerAt = at
}

func (g *Group) disarm() {
	if g.timer != nil && !g.timerAt.IsZero() {
		g.timer.Stop()
	}
	g.timerAt = time.Time{}
}

// expire runs on the timer: every entry whose deadline has passed goes back
// to the ready queue.
func (g *Group) expire() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.isClosed {
		return
	}
	now := time.Now()
	g.timerAt = time.Time{}
	moved := false
	for g.pending.Len() > 0 && !g.pending[0].deadline.After(now) {
		e := heap.Pop(&g.pending).(*Entry)
		e.state = stateReady
		g.ready.push(e)
		moved = true
	}
	g.armTimer(now)
	if moved {
		g.notify()
	}
}

// ticket is the Acknowledger of one delivery of one entry.
type ticket struct {
	g       *Group
	e       *Entry
	gen     uint32
	ackWait time.Duration
	settled bool // guarded by g.mu
}

// Ack acknowledges the entry, from this delivery or a stale one. It cannot
// block, so it does not consult ctx.
func (t *ticket) Ack(context.Context) error {
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.isClosed {
		return bus.ErrClosed
	}
	if t.settled {
		return nil
	}
	t.settled = true
	e := t.e
	switch e.state {
	case stateAcked:
		return nil
	case statePending:
		heap.Remove(&g.pending, e.index)
		if g.pending.Len() == 0 {
			g.disarm()
		}
	case stateReady:
		// Still in the ring; take skips it when it gets there.
	}
	e.state = stateAcked
	e.Msg = bus.Message{}
	if g.eof && g.pending.Len() == 0 {
		g.notify()
	}
	if g.src != nil {
		if err := g.src.Acked(e); err != nil {
			return fmt.Errorf("commit ack: %w", err)
		}
	}
	return nil
}

// Nack sends the entry back after delay, unless this delivery is stale
// (the entry was delivered again since, or acknowledged).
func (t *ticket) Nack(_ context.Context, delay time.Duration) error {
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.isClosed {
		return bus.ErrClosed
	}
	if t.settled {
		return nil
	}
	t.settled = true
	e := t.e
	if e.gen != t.gen || e.state != statePending {
		return nil
	}
	if delay <= 0 {
		heap.Remove(&g.pending, e.index)
		e.state = stateReady
		g.ready.push(e)
		g.notify()
		return nil
	}
	now := time.Now()
	e.deadline = now.Add(delay)
	heap.Fix(&g.pending, e.index)
	g.armTimer(now)
	return nil
}

// InProgress moves the entry's deadline to a full AckWait from now, unless
// this delivery is settled or stale. The timer may stay armed for the
// earlier deadline: when it fires it finds nothing due and re-arms.
func (t *ticket) InProgress(context.Context) error {
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.isClosed {
		return bus.ErrClosed
	}
	e := t.e
	if t.settled || e.gen != t.gen || e.state != statePending {
		return nil
	}
	e.deadline = time.Now().Add(t.ackWait)
	heap.Fix(&g.pending, e.index)
	return nil
}
