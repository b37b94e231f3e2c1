package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

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
