package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/loomhq/loom/bus"
)

// consumer is one pull subscriber of a group's durable consumer.
type consumer struct {
	b       *Bus
	cons    jetstream.Consumer
	ackWait time.Duration
	source  string

	ctx    context.Context // cancelled by Close and by the bus's Close
	cancel context.CancelFunc

	// sem admits one Receive at a time to the pulls below.
	sem chan struct{}
	// waiting is the open pull for one message, kept across Receive calls
	// so that a message it brings after its caller gave up is not left to
	// time out.
	waiting jetstream.MessageBatch
	// waitingSince is when waiting was sent.
	waitingSince time.Time
}

// Receive implements bus.Consumer.
func (c *consumer) Receive(ctx context.Context, max int) ([]bus.Delivery, error) {
	if max < 1 {
		max = 1
	}
	if err := c.alive(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.ctx.Done():
		return nil, c.alive()
	}
	defer func() { <-c.sem }()
	for {
		if c.waiting == nil {
			ds, err := c.fetchNow(max)
			if err != nil || len(ds) > 0 {
				return ds, err
			}
			c.waiting, err = c.cons.Fetch(1, jetstream.FetchContext(c.pullContext()))
			if err != nil {
				c.waiting = nil
				if aerr := c.alive(); aerr != nil {
					return nil, aerr
				}
				return nil, fmt.Errorf("nats bus: receive from %s: %w", c.source, err)
			}
			c.waitingSince = time.Now()
		}
		select {
		case m, ok := <-c.waiting.Messages():
			if !ok {
				err := c.waiting.Error()
				c.waiting = nil
				if aerr := c.alive(); aerr != nil {
					return nil, aerr
				}
				if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
					return nil, fmt.Errorf("nats bus: receive from %s: %w", c.source, err)
				}
				continue // the pull expired: renew it
			}
			// The message may have waited here for a Receive: it has been
			// out since then, so restart its AckWait.
			if time.Since(c.waitingSince) > c.ackWait/4 {
				_ = m.InProgress()
			}
			c.drainWaiting()
			d, err := c.delivery(m)
			if err != nil {
				return nil, err
			}
			ds := []bus.Delivery{d}
			if max > 1 {
				more, err := c.fetchNow(max - 1)
				if err != nil {
					// The one in hand must still reach the caller.
					return ds, nil
				}
				ds = append(ds, more...)
			}
			return ds, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.ctx.Done():
			return nil, c.alive()
		}
	}
}

// drainWaiting forgets the pull for one message once it has brought it.
func (c *consumer) drainWaiting() {
	c.waiting = nil
}

// pullContext bounds one waiting pull by the PullWait and the bus's life.
// Not by the consumer's: the server keeps a pull open until it expires,
// whether or not its client still listens, so a pull dropped at the
// consumer's Close would swallow the next message for an AckWait. Close
// hands the pull to drain instead.
func (c *consumer) pullContext() context.Context {
	ctx, cancel := context.WithTimeout(c.b.ctx, c.b.cfg.PullWait)
	context.AfterFunc(ctx, cancel)
	return ctx
}

// drain hands back, at once, whatever pull brings until it expires.
func (c *consumer) drain(pull jetstream.MessageBatch) {
	defer c.b.wg.Done()
	for m := range pull.Messages() {
		_ = m.Nak()
	}
}

// fetchNow returns up to max messages available now, without waiting.
func (c *consumer) fetchNow(max int) ([]bus.Delivery, error) {
	batch, err := c.cons.FetchNoWait(max)
	if err != nil {
		if aerr := c.alive(); aerr != nil {
			return nil, aerr
		}
		return nil, fmt.Errorf("nats bus: receive from %s: %w", c.source, err)
	}
	var ds []bus.Delivery
	var bad error
	for m := range batch.Messages() {
		d, err := c.delivery(m)
		if err != nil {
			bad = err
			continue
		}
		ds = append(ds, d)
	}
	if len(ds) == 0 && bad != nil {
		return nil, bad
	}
	if err := batch.Error(); err != nil && len(ds) == 0 && !errors.Is(err, jetstream.ErrNoMessages) {
		if aerr := c.alive(); aerr != nil {
			return nil, aerr
		}
		return nil, fmt.Errorf("nats bus: receive from %s: %w", c.source, err)
	}
	return ds, nil
}

// delivery decodes m. A message that does not decode is terminated, so
// that it does not come back, and reported as malformed.
func (c *consumer) delivery(m jetstream.Msg) (bus.Delivery, error) {
	var msg bus.Message
	if err := json.Unmarshal(m.Data(), &msg); err != nil {
		_ = m.Term()
		seq := int64(-1)
		if meta, merr := m.Metadata(); merr == nil {
			seq = int64(meta.Sequence.Stream)
		}
		return bus.Delivery{}, &bus.MalformedError{Source: c.source, Offset: seq, Err: err}
	}
	redelivered := false
	if meta, err := m.Metadata(); err == nil {
		redelivered = meta.NumDelivered > 1
	}
	a := &acker{c: c, m: m}
	a.deadline.Store(time.Now().Add(c.ackWait).UnixNano())
	return bus.NewDelivery(msg, redelivered, c.ackWait, a), nil
}

func (c *consumer) alive() error {
	if c.ctx.Err() != nil {
		return bus.ErrClosed
	}
	return nil
}

// Close implements bus.Consumer.
func (c *consumer) Close() error {
	c.cancel()
	// A Receive under way returns now that the context is cancelled.
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	if c.waiting != nil {
		c.b.mu.Lock()
		if !c.b.closing {
			c.b.wg.Add(1)
			go c.drain(c.waiting)
		}
		c.b.mu.Unlock()
		c.waiting = nil
	}
	return nil
}

// ackTimeout bounds the wait for the server to confirm an Ack.
const ackTimeout = 5 * time.Second

// acker settles one delivery.
type acker struct {
	c        *consumer
	m        jetstream.Msg
	mu       sync.Mutex
	settled  bool
	deadline atomic.Int64 // unix nanoseconds after which the delivery is stale
}

// current reports whether the delivery's AckWait has not yet run out.
func (a *acker) current() bool {
	return time.Now().UnixNano() < a.deadline.Load()
}

func (a *acker) busClosed() bool { return a.c.b.closed() }

// Ack implements bus.Acknowledger: it waits for the server to confirm.
func (a *acker) Ack(ctx context.Context) error {
	if a.busClosed() {
		return bus.ErrClosed
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.settled {
		return nil
	}
	// The server's confirmation may never come: the connection dropped
	// after the ack went out. Wait for it no longer than a request takes.
	ctx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	if err := a.m.DoubleAck(ctx); err != nil {
		return fmt.Errorf("nats bus: ack %s: %w", a.c.source, err)
	}
	a.settled = true
	return nil
}

// Nack implements bus.Acknowledger.
func (a *acker) Nack(ctx context.Context, delay time.Duration) error {
	if a.busClosed() {
		return bus.ErrClosed
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.settled {
		return nil
	}
	a.settled = true
	if !a.current() {
		return nil
	}
	var err error
	if delay > 0 {
		err = a.m.NakWithDelay(delay)
	} else {
		err = a.m.Nak()
	}
	if err != nil {
		return fmt.Errorf("nats bus: nack %s: %w", a.c.source, err)
	}
	return nil
}

// InProgress implements bus.Acknowledger.
func (a *acker) InProgress(ctx context.Context) error {
	if a.busClosed() {
		return bus.ErrClosed
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.settled || !a.current() {
		return nil
	}
	if err := a.m.InProgress(); err != nil {
		return fmt.Errorf("nats bus: extend delivery on %s: %w", a.c.source, err)
	}
	a.deadline.Store(time.Now().Add(a.c.ackWait).UnixNano())
	return nil
}
