package redis_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/bus/bustest"
	busredis "github.com/loomhq/loom/bus/redis"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var seq atomic.Uint64

// serverURL is the Redis server the tests use; they skip without one.
func serverURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("LOOM_TEST_REDIS_URL")
	if url == "" {
		t.Skip("LOOM_TEST_REDIS_URL is not set")
	}
	return url
}

// newBus returns a bus under a key prefix of its own, whose keys are
// deleted when t ends.
func newBus(t testing.TB, cfg busredis.Config) *busredis.Bus {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = serverURL(t)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = fmt.Sprintf("loomtest:%d:%d:", os.Getpid(), seq.Add(1))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := busredis.New(ctx, cfg)
	if err != nil {
		t.Fatalf("redis.New: %v", err)
	}
	t.Cleanup(func() {
		_ = b.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d, err := busredis.New(ctx, busredis.Config{URL: cfg.URL, Prefix: cfg.Prefix, TrimInterval: -1})
		if err != nil {
			t.Errorf("reconnect to delete keys: %v", err)
			return
		}
		defer d.Close()
		if err := d.DeleteKeys(ctx); err != nil {
			t.Errorf("delete keys: %v", err)
		}
	})
	return b
}

func TestConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bus.Bus { return newBus(t, busredis.Config{TrimInterval: 100 * time.Millisecond}) })
}

// rawClient is a plain client on the test server, to look at what the bus
// left there.
func rawClient(t *testing.T) *goredis.Client {
	t.Helper()
	opts, err := goredis.ParseURL(serverURL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestTrim checks that entries every group acknowledged are removed, and
// that those a group has not read stay.
func TestTrim(t *testing.T) {
	t.Parallel()
	prefix := fmt.Sprintf("loomtest:%d:trim%d:", os.Getpid(), seq.Add(1))
	b := newBus(t, busredis.Config{Prefix: prefix, TrimInterval: 20 * time.Millisecond})
	rdb := rawClient(t)
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
	waitLen := func(want int64) {
		t.Helper()
		for {
			n, err := rdb.XLen(ctx, prefix+"ready:q").Result()
			if err != nil {
				t.Fatal(err)
			}
			if n == want {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("stream holds %d entries, want %d", n, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitLen(30) // what the slow group has not read stays
	ack(slow, 30)
	waitLen(0)
}

// TestLateGroupStartsAtEnd checks that a group joining a stream other
// groups already read starts with what is published after it joined, while
// the first group got what was there before it.
func TestLateGroupStartsAtEnd(t *testing.T) {
	t.Parallel()
	b := newBus(t, busredis.Config{})
	bustest.LateGroupStartsAtEnd(t, b)
}
