package bustest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/loomhq/loom/bus"
)

// LateGroupStartsAtEnd checks that a group joining a queue other groups
// already read starts with what is published after it joined, while the
// first group gets what was there before it. The network buses promise
// this; the file bus gives a new group the whole queue, so it is not part
// of Run.
func LateGroupStartsAtEnd(t *testing.T, b bus.Bus) {
	t.Helper()
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

// Trim checks that messages every group of queue "q" acknowledged are
// removed from b, and that those a group has not read stay. held reports
// how many messages the server holds for queue "q"; b must trim often (tens
// of milliseconds). The in-process buses keep no history to trim, so it is
// not part of Run.
func Trim(t *testing.T, b bus.Bus, held func(ctx context.Context) (int64, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fast, err := b.Consume(ctx, "q", bus.ConsumeOptions{Group: "fast"})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	slow, err := b.Consume(ctx, "q", bus.ConsumeOptions{Group: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	msgs := make([]bus.Message, 50)
	for i := range msgs {
		msgs[i] = bus.Message{ID: fmt.Sprint(i), Type: "t"}
	}
	if err := b.Publish(ctx, "q", msgs...); err != nil {
		t.Fatal(err)
	}
	ack := func(c bus.Consumer, n int) {
		for got := 0; got < n; {
			ds, err := c.Receive(ctx, n-got)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				if err := d.Ack(ctx); err != nil {
					t.Fatal(err)
				}
			}
			got += len(ds)
		}
	}
	ack(fast, 50)
	ack(slow, 20)
	waitHeld := func(want int64) {
		t.Helper()
		for {
			n, err := held(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == want {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("the server holds %d messages, want %d", n, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitHeld(30) // what the slow group has not read stays
	ack(slow, 30)
	waitHeld(0)
}
