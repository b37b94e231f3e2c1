package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/loomhq/loom/bus"
	busredis "github.com/loomhq/loom/bus/redis"
)

// TestNackLongerThanAckWait checks that a Nack delay longer than the
// AckWait is honoured: the message comes back after the delay, not the
// AckWait.
func TestNackLongerThanAckWait(t *testing.T) {
	t.Parallel()
	const ackWait, delay = 200 * time.Millisecond, time.Second
	b := newBus(t, busredis.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := b.Consume(ctx, "q", bus.ConsumeOptions{AckWait: ackWait})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := b.Publish(ctx, "q", bus.Message{ID: "a", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	ds, err := c.Receive(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := ds[0].Nack(ctx, delay); err != nil {
		t.Fatal(err)
	}
	ds, err = c.Receive(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < delay*3/4 {
		t.Errorf("redelivered %s after Nack(%s) with an AckWait of %s", elapsed, delay, ackWait)
	}
	if !ds[0].Redelivered {
		t.Error("not marked redelivered")
	}
	if err := ds[0].Ack(ctx); err != nil {
		t.Fatal(err)
	}
}
