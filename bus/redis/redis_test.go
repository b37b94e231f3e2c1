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
	bustest.Trim(t, b, func(ctx context.Context) (int64, error) {
		return rdb.XLen(ctx, prefix+"ready:q").Result()
	})
}

// TestLateGroupStartsAtEnd checks that a group joining a stream other
// groups already read starts with what is published after it joined, while
// the first group got what was there before it.
func TestLateGroupStartsAtEnd(t *testing.T) {
	t.Parallel()
	b := newBus(t, busredis.Config{})
	bustest.LateGroupStartsAtEnd(t, b)
}
