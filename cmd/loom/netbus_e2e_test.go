package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	goredis "github.com/redis/go-redis/v9"

	busnats "github.com/loomhq/loom/bus/nats"
	busredis "github.com/loomhq/loom/bus/redis"
)

// TestWorkerProcessNATS is TestWorkerProcess with the server and the
// worker on NATS JetStream, on a stream of the test's own.
func TestWorkerProcessNATS(t *testing.T) {
	url := os.Getenv("LOOM_TEST_NATS_URL")
	if url == "" {
		t.Skip("LOOM_TEST_NATS_URL is not set")
	}
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildLoom(t)
	n := fmt.Sprintf("%d_%d", os.Getpid(), time.Now().UnixNano())
	stream, subject := "LOOMTEST_E2E_"+n, "loomtest.e2e"+n
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b, err := busnats.New(ctx, busnats.Config{URL: url, Stream: stream, Subject: subject, TrimInterval: -1})
		if err != nil {
			t.Errorf("connect to delete the stream: %v", err)
			return
		}
		defer b.Close()
		if err := b.DeleteStream(ctx); err != nil {
			t.Error(err)
		}
	})
	testWorkerProcess(t, bin, t.TempDir(), url+"?stream="+stream+"&subject="+subject)
}

// TestWorkerProcessRedis is TestWorkerProcess with the server and the
// worker on Redis Streams, under a key prefix of the test's own.
func TestWorkerProcessRedis(t *testing.T) {
	url := os.Getenv("LOOM_TEST_REDIS_URL")
	if url == "" {
		t.Skip("LOOM_TEST_REDIS_URL is not set")
	}
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildLoom(t)
	prefix := fmt.Sprintf("loomtest:e2e:%d:%d:", os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b, err := busredis.New(ctx, busredis.Config{URL: url, Prefix: prefix, TrimInterval: -1})
		if err != nil {
			t.Errorf("connect to delete the keys: %v", err)
			return
		}
		defer b.Close()
		if err := b.DeleteKeys(ctx); err != nil {
			t.Error(err)
		}
	})
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	testWorkerProcess(t, bin, t.TempDir(), url+sep+"prefix="+prefix)
}

// TestBenchOverBus runs `loom bench --bus` on NATS and Redis and checks
// that it works tasks down and leaves no stream or key behind.
func TestBenchOverBus(t *testing.T) {
	natsURL, redisURL := os.Getenv("LOOM_TEST_NATS_URL"), os.Getenv("LOOM_TEST_REDIS_URL")
	if natsURL == "" && redisURL == "" {
		t.Skip("neither LOOM_TEST_NATS_URL nor LOOM_TEST_REDIS_URL is set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := func(url string) {
		t.Helper()
		out, code := runMain(t, "bench", "-n", "300", "--skip-raw", "--latency-samples", "0", "--bus", url)
		if code != 0 || !strings.Contains(out, "worked/s") {
			t.Fatalf("bench --bus %s: exit %d:\n%s", url, code, out)
		}
	}
	mine := fmt.Sprintf("%d_", os.Getpid())
	if natsURL != "" {
		run(natsURL)
		nc, err := natsgo.Connect(natsURL)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		names := js.StreamNames(ctx)
		for name := range names.Name() {
			if strings.HasPrefix(name, "LOOM_BENCH_"+mine) {
				t.Errorf("bench left stream %s", name)
			}
		}
		if err := names.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if redisURL != "" {
		run(redisURL)
		opts, err := goredis.ParseURL(redisURL)
		if err != nil {
			t.Fatal(err)
		}
		rdb := goredis.NewClient(opts)
		defer rdb.Close()
		keys, err := rdb.Keys(ctx, "loom:bench:"+mine+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > 0 {
			t.Errorf("bench left keys %v", keys)
		}
	}
}
