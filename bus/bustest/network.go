package bustest

import (
	"context"
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
