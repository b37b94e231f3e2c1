package bus

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// DefaultGroup is the consumer group of a ConsumeOptions that names none.
const DefaultGroup = "workers"

// DefaultAckWait is how long a delivery may stay unsettled before it is
// delivered again, for a ConsumeOptions that sets no AckWait.
const DefaultAckWait = 30 * time.Second

// MaxConsumerNameLen bounds ConsumeOptions.Name.
const MaxConsumerNameLen = 256

// ConsumeOptions configures one consumer. The zero value is ready to use:
// WithDefaults fills in what it leaves unset.
type ConsumeOptions struct {
	// Group is the consumer group to join: each message of the queue goes to
	// one consumer of each group. Default DefaultGroup ("workers"); see
	// ValidateGroup for the allowed names.
	Group string
	// Name identifies this consumer within its group, in backends that keep
	// per-consumer state (Redis) and in logs. Default: host name, process id
	// and a counter, unique within the process.
	Name string
	// AckWait is how long a delivery may go unsettled before it is delivered
	// again. Set it above the longest time a worker holds a message before
	// acknowledging it. Default DefaultAckWait (30s), or the backend's
	// configured default.
	AckWait time.Duration
}

var consumerSeq atomic.Uint64

// WithDefaults returns o with every unset field given its default. Backends
// call it first (after putting in their own AckWait default if they have
// one), so that defaults live in one place.
func (o ConsumeOptions) WithDefaults() ConsumeOptions {
	if o.Group == "" {
		o.Group = DefaultGroup
	}
	if o.AckWait == 0 {
		o.AckWait = DefaultAckWait
	}
	if o.Name == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "localhost"
		}
		o.Name = host + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(consumerSeq.Add(1), 10)
	}
	return o
}

// Validate reports what is wrong with o: a group name ValidateGroup refuses,
// a negative AckWait, a Name longer than MaxConsumerNameLen.
func (o ConsumeOptions) Validate() error {
	if err := ValidateGroup(o.Group); err != nil {
		return err
	}
	if o.AckWait < 0 {
		return fmt.Errorf("bus: negative AckWait %s", o.AckWait)
	}
	if len(o.Name) > MaxConsumerNameLen {
		return fmt.Errorf("%w: consumer name is %d bytes, longer than %d", ErrInvalidName, len(o.Name), MaxConsumerNameLen)
	}
	return nil
}
