package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/loomhq/loom/bus"
	busredis "github.com/loomhq/loom/bus/redis"
)

func testLateGroup(t *testing.T, b bus.Bus) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Publish(ctx, "q", bus.Message{ID: "before", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	first, err := b.Consume(ctx, "q", bus.ConsumeOptions{Group: "first"})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	late, err := b.Consume(ctx, "q", bus.ConsumeOptions{Group: "late"})
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	if err := b.Publish(ctx, "q", bus.Message{ID: "after", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    bus.Consumer
		want []string
	}{{first, []string{"before", "after"}}, {late, []string{"after"}}} {
		var got []string
		for len(got) < len(tc.want) {
			ds, err := tc.c.Receive(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				got = append(got, d.ID)
				_ = d.Ack(ctx)
			}
		}
		if len(got) != len(tc.want) || got[0] != tc.want[0] {
			t.Errorf("got %v, want %v", got, tc.want)
		}
	}
	// The late group gets nothing more.
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	if ds, err := late.Receive(short, 10); err == nil {
		t.Errorf("late group got %d more: %s", len(ds), ds[0].ID)
	}
}

// testStaleSettle checks that Nack and InProgress on a delivery whose
// AckWait ran out, its message delivered again since, leave the newer
// delivery alone: no immediate redelivery follows the stale Nack.
func testStaleSettle(t *testing.T, b bus.Bus) {
	const ackWait = 500 * time.Millisecond
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
	receive := func(ctx context.Context) (bus.Delivery, error) {
		ds, err := c.Receive(ctx, 1)
		if err != nil {
			return bus.Delivery{}, err
		}
		return ds[0], nil
	}
	stale, err := receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	current, err := receive(ctx) // after the AckWait
	if err != nil || !current.Redelivered {
		t.Fatalf("no redelivery after the AckWait: %v", err)
	}
	if err := stale.InProgress(ctx); err != nil {
		t.Errorf("stale InProgress: %v", err)
	}
	if err := stale.Nack(ctx, 0); err != nil {
		t.Errorf("stale Nack: %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, ackWait*2/5)
	defer cancelShort()
	if d, err := receive(short); err == nil {
		t.Errorf("a stale Nack redelivered %s at once", d.ID)
	}
	if err := current.Ack(ctx); err != nil {
		t.Fatal(err)
	}
}

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
