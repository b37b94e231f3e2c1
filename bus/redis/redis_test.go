package redis_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

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
