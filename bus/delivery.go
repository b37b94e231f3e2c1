package bus

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Acknowledger settles one delivery. Backends implement it; users call
// Delivery.Ack and Delivery.Nack instead.
type Acknowledger interface {
	// Ack reports the delivery's message handled: it is not delivered again.
	Ack(ctx context.Context) error
	// Nack hands the message back, to be delivered again once delay has
	// passed (at once for a delay of zero or less).
	Nack(ctx context.Context, delay time.Duration) error
	// InProgress restarts the delivery's AckWait: the message is not
	// delivered again for another AckWait from now. It changes nothing on
	// a delivery already settled or delivered again since.
	InProgress(ctx context.Context) error
}

// Delivery is one message as received by one consumer, with the means to
// settle it. The first Ack or Nack on a delivery wins; later ones are no-ops
// that return nil, so a worker can Nack in a deferred cleanup without
// checking whether it acknowledged already. Acking a delivery whose AckWait
// has run out still acknowledges the message, even if it has been delivered
// again meanwhile; Nack on such a delivery changes nothing.
type Delivery struct {
	// Message is the task. Delivery embeds it so that d.ID and d.Type read
	// naturally.
	Message
	// Redelivered is true when the message has been delivered before, to
	// this consumer or another. It is a hint: a file bus resuming after a
	// restart cannot know, and reports false.
	Redelivered bool
	// AckWait is how long the delivery may go unsettled before the bus
	// delivers its message again, counted from Receive or from the latest
	// InProgress: a worker that holds a message longer calls InProgress
	// more often than that. Zero when the backend does not say.
	AckWait time.Duration

	ack Acknowledger
}

// NewDelivery is how a backend builds a Delivery: m as received, whether it
// was delivered before, the AckWait it was received with, and the
// Acknowledger that settles it.
func NewDelivery(m Message, redelivered bool, ackWait time.Duration, a Acknowledger) Delivery {
	return Delivery{Message: m, Redelivered: redelivered, AckWait: ackWait, ack: a}
}

// errNoAcknowledger is what settling a Delivery not made by NewDelivery
// returns.
var errNoAcknowledger = errors.New("bus: delivery has no acknowledger")

// Ack reports the message handled: the bus will not deliver it again. Ack
// only after the outcome is safely recorded (for the engine: written to the
// store); a crash before Ack means the message is delivered again.
func (d Delivery) Ack(ctx context.Context) error {
	if d.ack == nil {
		return errNoAcknowledger
	}
	return d.ack.Ack(ctx)
}

// Nack hands the message back to the bus, to be delivered again (to any
// consumer of the group) once delay has passed; a delay of zero or less
// means as soon as possible. Use it to give up a message without waiting out
// the AckWait, when shutting down or to back off.
func (d Delivery) Nack(ctx context.Context, delay time.Duration) error {
	if d.ack == nil {
		return errNoAcknowledger
	}
	return d.ack.Nack(ctx, delay)
}

// InProgress tells the bus the message is still being worked on: it is not
// delivered again until another AckWait has passed. A worker whose handler
// may run longer than the AckWait calls it periodically (every third of the
// AckWait, say) until it settles the delivery, so that a healthy worker
// never has its task handed to another while it runs. On a delivery
// already settled, or whose AckWait ran out so that its message was
// delivered again, it changes nothing and returns nil.
func (d Delivery) InProgress(ctx context.Context) error {
	if d.ack == nil {
		return errNoAcknowledger
	}
	return d.ack.InProgress(ctx)
}

// ackAllParallel is how many acknowledgements AckAll has in flight at once.
const ackAllParallel = 64

// ManyAcknowledger is an Acknowledger whose backend acknowledges many
// deliveries in one call. AckAll hands the first delivery's acknowledger
// every acknowledger of the batch, itself among them; AckMany returns one
// error per acknowledger, nil where it acknowledged, and settles those it
// cannot batch (another backend's) one at a time.
type ManyAcknowledger interface {
	Acknowledger
	AckMany(ctx context.Context, as []Acknowledger) []error
}

// AckAll acknowledges every delivery of ds, as Ack on each would, in one
// call where the backend can (ManyAcknowledger), else with up to 64
// acknowledgements in flight at once: on a network bus, where each is a
// round trip to the server, a batch costs a few round trips instead of one
// each. It waits for them all and returns the errors of those that failed,
// joined; a delivery whose Ack failed is delivered again after its AckWait,
// as after a failed Ack.
func AckAll(ctx context.Context, ds []Delivery) error {
	if len(ds) == 1 {
		return ds[0].Ack(ctx)
	}
	if m, ok := ds[0].ack.(ManyAcknowledger); ok {
		as := make([]Acknowledger, len(ds))
		for i, d := range ds {
			if d.ack == nil {
				return errNoAcknowledger
			}
			as[i] = d.ack
		}
		return errors.Join(m.AckMany(ctx, as)...)
	}
	errs := make([]error, len(ds))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(ackAllParallel, len(ds)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ds) {
					return
				}
				errs[i] = ds[i].Ack(ctx)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
