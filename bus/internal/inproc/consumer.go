package inproc

import (
	"context"
	"sync"
	"time"

	"github.com/loomhq/loom/bus"
)

// Consumer is a bus.Consumer on a Group.
type Consumer struct {
	g       *Group
	ackWait time.Duration
	stop    chan struct{}
	once    sync.Once
}

var _ bus.Consumer = (*Consumer)(nil)

// NewConsumer returns a consumer of g whose deliveries are due back after
// ackWait.
func NewConsumer(g *Group, ackWait time.Duration) *Consumer {
	return &Consumer{g: g, ackWait: ackWait, stop: make(chan struct{})}
}

// Receive implements bus.Consumer.
func (c *Consumer) Receive(ctx context.Context, max int) ([]bus.Delivery, error) {
	return c.g.Receive(ctx, max, c.ackWait, c.stop)
}

// Close implements bus.Consumer. It wakes Receive calls blocked on c.
func (c *Consumer) Close() error {
	c.once.Do(func() { close(c.stop) })
	return nil
}
