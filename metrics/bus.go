package metrics

import (
	"context"

	"github.com/loomhq/loom/bus"
)

// Values of the stream label of the bus counters.
const (
	StreamReady = "ready"
	StreamDone  = "done"
)

// InstrumentBus returns b with every message its consumers receive counted
// in loom_bus_deliveries_total, and those delivered again in
// loom_bus_redeliveries_total. With a nil m it returns b itself.
func InstrumentBus(b bus.Bus, m *Metrics) bus.Bus {
	if m == nil || b == nil {
		return b
	}
	return &countingBus{Bus: b, m: m}
}

type countingBus struct {
	bus.Bus
	m *Metrics
}

var _ bus.Bus = (*countingBus)(nil)

// Consume counts what the consumer of queue receives.
func (b *countingBus) Consume(ctx context.Context, queue string, opts bus.ConsumeOptions) (bus.Consumer, error) {
	c, err := b.Bus.Consume(ctx, queue, opts)
	if err != nil {
		return nil, err
	}
	return &countingConsumer{Consumer: c, m: b.m, stream: StreamReady, queue: b.m.queueLabel(queue)}, nil
}

// ConsumeDone counts what the consumer of results receives.
func (b *countingBus) ConsumeDone(ctx context.Context, opts bus.ConsumeOptions) (bus.Consumer, error) {
	c, err := b.Bus.ConsumeDone(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &countingConsumer{Consumer: c, m: b.m, stream: StreamDone, queue: ""}, nil
}

type countingConsumer struct {
	bus.Consumer
	m             *Metrics
	stream, queue string
}

// Receive counts the deliveries it returns.
func (c *countingConsumer) Receive(ctx context.Context, max int) ([]bus.Delivery, error) {
	ds, err := c.Consumer.Receive(ctx, max)
	if len(ds) > 0 {
		redelivered := 0
		for i := range ds {
			if ds[i].Redelivered {
				redelivered++
			}
		}
		c.m.deliveries.WithLabelValues(c.stream, c.queue).Add(float64(len(ds)))
		if redelivered > 0 {
			c.m.redelivered.WithLabelValues(c.stream, c.queue).Add(float64(redelivered))
		}
	}
	return ds, err
}
