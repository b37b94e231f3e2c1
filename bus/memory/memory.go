// Package memory is a task bus inside one process: the engine and its
// workers share it when loom runs embedded. Nothing is written anywhere;
// the engine's store is the record, and the engine publishes again whatever
// a stopped process lost.
//
// Delivery is push-based: Receive waits on a channel that Publish signals,
// so a task starts within microseconds of being published and an idle bus
// uses no CPU. Deliveries not acknowledged within their AckWait are
// redelivered by one timer per consumer group.
package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/bus/internal/inproc"
)

// Config configures a Bus. The zero value is ready to use.
type Config struct {
	// AckWait is the AckWait of consumers whose ConsumeOptions set none.
	// Default bus.DefaultAckWait (30s).
	AckWait time.Duration
}

func (c Config) withDefaults() Config {
	if c.AckWait == 0 {
		c.AckWait = bus.DefaultAckWait
	}
	return c
}

func (c Config) validate() error {
	if c.AckWait < 0 {
		return fmt.Errorf("memory bus: negative AckWait %s", c.AckWait)
	}
	return nil
}

// Bus is an in-process bus.Bus. It is safe for concurrent use. Every queue
// and group lives as long as the Bus; messages wait, without bound, until a
// consumer takes them, so a publisher that may outrun its consumers must
// throttle itself (the engine does).
type Bus struct {
	cfg Config
	hub *inproc.Hub
}

var _ bus.Bus = (*Bus)(nil)

// New returns an empty bus configured by cfg.
func New(cfg Config) (*Bus, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Bus{cfg: cfg.withDefaults(), hub: inproc.NewHub()}, nil
}

// Publish implements bus.Publisher.
func (b *Bus) Publish(ctx context.Context, queue string, msgs ...bus.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory bus: publish to %q: %w", queue, err)
	}
	if err := bus.ValidateQueue(queue); err != nil {
		return fmt.Errorf("memory bus: publish: %w", err)
	}
	out := make([]bus.Message, len(msgs))
	for i := range msgs {
		if err := msgs[i].ValidateReady(); err != nil {
			return fmt.Errorf("memory bus: publish to %q: %w", queue, err)
		}
		out[i] = msgs[i]
		out[i].Queue = queue
	}
	if err := b.hub.Publish(queue, out); err != nil {
		return fmt.Errorf("memory bus: publish to %q: %w", queue, err)
	}
	return nil
}

// PublishDone implements bus.DonePublisher.
func (b *Bus) PublishDone(ctx context.Context, msgs ...bus.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory bus: publish done: %w", err)
	}
	for i := range msgs {
		if err := msgs[i].ValidateDone(); err != nil {
			return fmt.Errorf("memory bus: publish done: %w", err)
		}
	}
	if err := b.hub.Publish(bus.DoneQueue, append([]bus.Message(nil), msgs...)); err != nil {
		return fmt.Errorf("memory bus: publish done: %w", err)
	}
	return nil
}

// Consume implements bus.Subscriber.
func (b *Bus) Consume(ctx context.Context, queue string, opts bus.ConsumeOptions) (bus.Consumer, error) {
	if err := bus.ValidateQueue(queue); err != nil {
		return nil, fmt.Errorf("memory bus: consume: %w", err)
	}
	return b.consume(ctx, queue, opts)
}

// ConsumeDone implements bus.DoneSubscriber.
func (b *Bus) ConsumeDone(ctx context.Context, opts bus.ConsumeOptions) (bus.Consumer, error) {
	return b.consume(ctx, bus.DoneQueue, opts)
}

func (b *Bus) consume(ctx context.Context, queue string, opts bus.ConsumeOptions) (bus.Consumer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory bus: consume %q: %w", queue, err)
	}
	if opts.AckWait == 0 {
		opts.AckWait = b.cfg.AckWait
	}
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("memory bus: consume %q: %w", queue, err)
	}
	g, err := b.hub.Group(queue, opts.Group)
	if err != nil {
		return nil, fmt.Errorf("memory bus: consume %q as group %q: %w", queue, opts.Group, err)
	}
	return inproc.NewConsumer(g, opts.AckWait), nil
}

// Close implements bus.Bus. Messages not yet acknowledged are dropped.
func (b *Bus) Close() error {
	b.hub.Close()
	return nil
}
