package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/bus/file"
	busnats "github.com/loomhq/loom/bus/nats"
	busredis "github.com/loomhq/loom/bus/redis"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
)

// busKind opens buses of one backend: open returns a new Bus on the same
// shared medium each time it is called within one test, as processes
// sharing a bus would each open their own.
type busKind struct {
	name string
	// medium returns an opener of buses sharing one medium (a directory,
	// a stream, a key prefix) of their own, removed when t ends; it skips
	// t when the backend's server is not configured.
	medium func(t *testing.T) (open func(t *testing.T) bus.Bus)
}

var netSeq atomic.Uint64

// quiet is the logger of the workers the tests start.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// sharedBuses are the backends on which engine and workers in separate
// processes meet: the file bus, and NATS and Redis when their servers are
// configured (LOOM_TEST_NATS_URL, LOOM_TEST_REDIS_URL).
var sharedBuses = []busKind{
	{"file", func(t *testing.T) func(t *testing.T) bus.Bus {
		dir := t.TempDir()
		return func(t *testing.T) bus.Bus {
			b, err := file.New(file.Config{Dir: dir, PollInterval: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			return b
		}
	}},
	{"nats", func(t *testing.T) func(t *testing.T) bus.Bus {
		url := os.Getenv("LOOM_TEST_NATS_URL")
		if url == "" {
			t.Skip("LOOM_TEST_NATS_URL is not set")
		}
		n := netSeq.Add(1)
		cfg := busnats.Config{URL: url, Stream: fmt.Sprintf("LOOMENGINE_%d_%d", os.Getpid(), n),
			Subject: fmt.Sprintf("loomengine%d.s%d", os.Getpid(), n), TrimInterval: -1}
		t.Cleanup(func() {
			// The test's buses are closed by now: one more removes the stream.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if b, err := busnats.New(ctx, cfg); err == nil {
				_ = b.DeleteStream(ctx)
				_ = b.Close()
			}
		})
		return func(t *testing.T) bus.Bus {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b, err := busnats.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			return b
		}
	}},
	{"redis", func(t *testing.T) func(t *testing.T) bus.Bus {
		url := os.Getenv("LOOM_TEST_REDIS_URL")
		if url == "" {
			t.Skip("LOOM_TEST_REDIS_URL is not set")
		}
		cfg := busredis.Config{URL: url, Prefix: fmt.Sprintf("loomengine:%d:%d:", os.Getpid(), netSeq.Add(1)), TrimInterval: -1}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if b, err := busredis.New(ctx, cfg); err == nil {
				_ = b.DeleteKeys(ctx)
				_ = b.Close()
			}
		})
		return func(t *testing.T) bus.Bus {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b, err := busredis.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			return b
		}
	}},
}

// TestWorkersAnnounce starts a worker with an id on a queue the engine
// was never told of: the engine lists the worker, learns the queue and
// runs its tasks there, and forgets the worker once it stopped.
func TestWorkersAnnounce(t *testing.T) {
	t.Parallel()
	for _, k := range append([]busKind{{"memory", func(t *testing.T) func(t *testing.T) bus.Bus {
		b := newBus(t)
		return func(*testing.T) bus.Bus { return b }
	}}}, sharedBuses...) {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			open := k.medium(t)
			te := setup(t, nil, engine.Config{Bus: open(t), HeartbeatInterval: 50 * time.Millisecond})
			w, err := engine.NewWorker(engine.WorkerConfig{
				Bus: open(t), ID: "gpu-box-1", Version: "v9.9.9", Queues: []string{"gpu"}, Concurrency: 3, Logger: quiet,
				AnnounceInterval: 20 * time.Millisecond,
				Handlers: map[string]loom.Handler{"resize": loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
					return loom.Values{"w": in["w"].(float64) / 2}, nil
				})},
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			wdone := make(chan error, 1)
			go func() { wdone <- w.Run(ctx) }()
			stopWorker := func() {
				if cancel != nil {
					cancel()
					cancel = nil
					if err := <-wdone; err != nil {
						t.Errorf("worker Run: %v", err)
					}
				}
			}
			defer stopWorker()

			find := func() *store.WorkerInfo {
				ws, err := te.Workers(context.Background(), time.Now().Add(-time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				for _, w := range ws {
					if w.ID == "gpu-box-1" {
						return &w
					}
				}
				return nil
			}
			wi := waitFor(t, "the worker listed", find)
			host, _ := os.Hostname()
			if wi.Hostname != host || len(wi.Queues) != 1 || wi.Queues[0] != "gpu" || wi.Concurrency != 3 || wi.Version != "v9.9.9" {
				t.Fatalf("listed %+v", *wi)
			}
			info := te.submit(t, &engine.SubmitParams{Type: "resize", Queue: "gpu", Input: loom.Values{"w": 640}})
			if got := te.wait(t, info.ID); got.Status != loom.StatusCompleted || got.Output["w"] != 320.0 {
				t.Fatalf("got %s %q %v", got.Status, got.Msg, got.Output)
			}
			stopWorker()
			waitFor(t, "the stopped worker forgotten", func() *bool {
				if find() == nil {
					return new(bool)
				}
				return nil
			})
		})
	}
}

// waitFor calls f until it returns non-nil, and returns that; it fails t
// after a minute.
func waitFor[T any](t *testing.T, what string, f func() *T) *T {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if v := f(); v != nil {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCancelReachesRemoteWorker cancels a task whose attempt runs on a
// worker elsewhere on the bus: the worker stops the handler, and takes
// the next task.
func TestCancelReachesRemoteWorker(t *testing.T) {
	t.Parallel()
	for _, k := range sharedBuses {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			open := k.medium(t)
			te := setup(t, nil, engine.Config{Bus: open(t), HeartbeatInterval: 50 * time.Millisecond,
				Queues: []engine.Queue{{Name: loom.DefaultQueue}, {Name: "remote", External: true}}})
			started := make(chan string, 2)
			stopped := make(chan error, 1)
			w, err := engine.NewWorker(engine.WorkerConfig{
				Bus: open(t), ID: "canceller", Queues: []string{"remote"}, Concurrency: 2, Logger: quiet,
				Handlers: map[string]loom.Handler{"block": loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
					a, _ := loom.Attempt(ctx)
					started <- a.RunID
					if in["quick"] == true {
						return loom.Values{"ok": true}, nil
					}
					<-ctx.Done()
					stopped <- context.Cause(ctx)
					return nil, ctx.Err()
				})},
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			wdone := make(chan error, 1)
			go func() { wdone <- w.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-wdone; err != nil {
					t.Errorf("worker Run: %v", err)
				}
			}()
			info := te.submit(t, &engine.SubmitParams{Type: "block", Queue: "remote"})
			if id := <-started; id != info.ID {
				t.Fatalf("started %s, want %s", id, info.ID)
			}
			at := time.Now()
			if _, err := te.Cancel(context.Background(), info.ID, "enough"); err != nil {
				t.Fatal(err)
			}
			select {
			case cause := <-stopped:
				t.Logf("the handler stopped %s after the cancel: %v", time.Since(at), cause)
			case <-time.After(time.Minute):
				t.Fatal("the worker's handler was not stopped")
			}
			if got := te.wait(t, info.ID); got.Status != loom.StatusCancelled {
				t.Fatalf("task %s", got.Status)
			}
			next := te.submit(t, &engine.SubmitParams{Type: "block", Queue: "remote", Input: loom.Values{"quick": true}})
			if got := te.wait(t, next.ID); got.Status != loom.StatusCompleted {
				t.Fatalf("next task %s %q", got.Status, got.Msg)
			}
		})
	}
}
