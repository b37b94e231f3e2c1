package bus

import "context"

// Publisher sends ready tasks to workers: the engine's half of the bus.
type Publisher interface {
	// Publish appends msgs, in order, to queue. It sets each message's Queue
	// to queue and rejects messages that carry a result (see ValidateReady),
	// and a queue name ValidateQueue refuses, before sending any. A batch is
	// as cheap to publish as one message on every backend, so the engine
	// publishes whatever it has ready in one call.
	Publish(ctx context.Context, queue string, msgs ...Message) error
}

// Subscriber hands ready tasks to workers: the workers' half of the bus.
type Subscriber interface {
	// Consume joins queue's consumer group opts.Group and returns a Consumer
	// that receives the group's share of the queue. A group exists from the
	// first Consume on it and keeps receiving messages while it has no open
	// consumer. Messages published while a queue had no group at all go to
	// the first group to join it.
	Consume(ctx context.Context, queue string, opts ConsumeOptions) (Consumer, error)
}

// DonePublisher sends done tasks back: what a worker does once it has a
// result.
type DonePublisher interface {
	// PublishDone appends msgs to the done stream. Every message must carry
	// a result (see ValidateDone).
	PublishDone(ctx context.Context, msgs ...Message) error
}

// DoneSubscriber receives done tasks: the engine, and any taskmaster that
// starts work when other work finishes, listen here.
type DoneSubscriber interface {
	// ConsumeDone joins consumer group opts.Group of the done stream, with
	// the same group semantics as Subscriber.Consume.
	ConsumeDone(ctx context.Context, opts ConsumeOptions) (Consumer, error)
}

// Bus is a whole task bus: both directions plus Close. Code that needs only
// one role should accept the role interface (a worker needs a Subscriber
// and a DonePublisher), so that tests can pass something smaller.
type Bus interface {
	Publisher
	Subscriber
	DonePublisher
	DoneSubscriber
	// Close releases the bus. Calls made afterwards, on the bus, its
	// consumers or its deliveries, fail with ErrClosed, and Receive calls
	// blocked at the time return ErrClosed. Messages not yet acknowledged
	// stay unacknowledged: a durable backend delivers them again later.
	// Closing twice is not an error.
	Close() error
}

// Consumer receives messages for one consumer of a group. It is safe for
// concurrent use: several goroutines may Receive from one Consumer.
type Consumer interface {
	// Receive blocks until at least one message is available, then returns
	// between 1 and max of them (max < 1 means 1). It returns ctx's error
	// when ctx is done first and ErrClosed once the consumer or its bus is
	// closed. Each delivery must be settled with Ack or Nack; one that is
	// not within the AckWait is delivered again. A bus over a finite input
	// (file.Stream on a worker's stdin) returns io.EOF once the input has
	// ended and everything read from it is acknowledged.
	//
	// Receiving in batches is what makes a bus fast: a worker pool should ask
	// for as many messages as it has idle slots.
	Receive(ctx context.Context, max int) ([]Delivery, error)
	// Close stops this consumer; its group and the group's other consumers
	// carry on. Deliveries it received can still be settled: those never
	// settled come back after their AckWait.
	Close() error
}
