package engine_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/bus/file"
	"github.com/loomhq/loom/bus/memory"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
)

// Timing of the run-once tests: handlers run longer than the AckWait and
// the lease, so a delivery or lease that is not extended while they run is
// redelivered or reaped, and the handler runs again. Both are short, yet
// leave room for a loaded machine running the tests with -race, where a
// timer or a store write can be late by hundreds of milliseconds: the
// worker extends every third of the AckWait, the engine every quarter of
// the lease (more often would only queue more writes on the store).
const (
	shortAckWait = time.Second
	shortLease   = 2 * time.Second
	heartbeat    = shortLease / 4
	longRun      = 3 * time.Second
	itemRun      = shortLease + shortAckWait/2
	// patientWait bounds waiting for a task to end in these tests.
	patientWait = time.Minute
)

// waitLong waits for a task to end, at most patientWait.
func waitLong(t *testing.T, te *testEngine, id string) *loom.TaskInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patientWait)
	defer cancel()
	info, err := te.Wait(ctx, id)
	if err != nil {
		t.Fatalf("wait %s: %v", id, err)
	}
	return info
}

// runCounter counts handler invocations by key.
type runCounter struct {
	mu   sync.Mutex
	runs map[string]int
}

func (c *runCounter) add(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs == nil {
		c.runs = map[string]int{}
	}
	c.runs[key]++
}

// check fails t unless each key ran exactly once and there are want keys.
func (c *runCounter) check(t *testing.T, want int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, n := range c.runs {
		if n != 1 {
			t.Errorf("%s ran %d times, want once", k, n)
		}
	}
	if len(c.runs) != want {
		t.Errorf("%d distinct runs, want %d: %v", len(c.runs), want, c.runs)
	}
}

// slowTask is a task type whose handler runs longRun, counting its runs by
// task id.
func slowTask(name string, c *runCounter) *loom.Task {
	return loom.NewTask(name, slowHandler(c))
}

func slowHandler(c *runCounter) loom.Handler {
	return loom.HandlerFunc(func(ctx context.Context, _ loom.Values) (loom.Values, error) {
		a, _ := loom.Attempt(ctx)
		c.add(a.RunID)
		if err := loom.Sleep(ctx, loom.SystemClock{}, longRun); err != nil {
			return nil, err
		}
		return loom.Values{"attempt": a.Attempt}, nil
	})
}

// runOnceBuses are the buses every run-once test runs on: the engine's own
// in-process bus, and a file bus in a temporary directory.
var runOnceBuses = []struct {
	name string
	// open returns the bus to give the engine, nil for its own.
	open func(t *testing.T) bus.Bus
}{
	{"memory-own", func(*testing.T) bus.Bus { return nil }},
	{"memory-shared", func(t *testing.T) bus.Bus {
		b, err := memory.New(memory.Config{AckWait: shortAckWait})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}},
	{"file", func(t *testing.T) bus.Bus {
		b, err := file.New(file.Config{Dir: t.TempDir(), AckWait: shortAckWait, PollInterval: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}},
}

// shortConfig is an engine configuration whose AckWait and lease are much
// shorter than longRun. It reaps less often than setup's default, so that
// two engines on one store do not keep its writer busy with empty reaps.
func shortConfig(b bus.Bus) engine.Config {
	return engine.Config{Bus: b, AckWait: shortAckWait, LeaseDuration: shortLease, HeartbeatInterval: heartbeat,
		ReapInterval: shortLease / 4}
}

// TestLongHandlerRunsOnceEmbedded runs tasks longer than the AckWait and
// the lease on the engine's embedded workers, on every bus: each runs once,
// in attempt 1.
func TestLongHandlerRunsOnceEmbedded(t *testing.T) {
	t.Parallel()
	for _, bc := range runOnceBuses {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			var runs runCounter
			b := bc.open(t)
			te := setup(t, nil, shortConfig(b), slowTask("slow", &runs))
			if b != nil {
				// A standalone worker competes with the embedded one for
				// the queue: a task redelivered to it would run twice.
				startWorker(t, b, loom.DefaultQueue, "slow", slowHandler(&runs))
			}
			ids := make([]string, 3)
			for i := range ids {
				ids[i] = te.submit(t, &engine.SubmitParams{Type: "slow", MaxAttempts: 3}).ID
			}
			for _, id := range ids {
				got := waitLong(t, te, id)
				if got.Status != loom.StatusCompleted || got.Attempt != 1 {
					t.Errorf("task %s: %s in attempt %d (%q), want completed in attempt 1", id, got.Status, got.Attempt, got.Msg)
				}
			}
			runs.check(t, len(ids))
		})
	}
}

// startWorker runs a standalone worker of one task type on queue of b
// until the test ends.
func startWorker(t *testing.T, b bus.Bus, queue, typ string, h loom.Handler) {
	t.Helper()
	w, err := engine.NewWorker(engine.WorkerConfig{
		Bus: b, Queues: []string{queue}, AckWait: shortAckWait,
		Handlers: map[string]loom.Handler{typ: h},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker Run: %v", err)
		}
	})
}

// TestLongHandlerRunsOnceStandalone runs tasks longer than the AckWait and
// the lease on a standalone worker (what loom worker runs) serving an
// external queue, on every shared bus: each runs once.
func TestLongHandlerRunsOnceStandalone(t *testing.T) {
	t.Parallel()
	for _, bc := range runOnceBuses[1:] {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			var runs runCounter
			b := bc.open(t)
			cfg := shortConfig(b)
			cfg.Queues = []engine.Queue{{Name: "remote", External: true}}
			te := setup(t, nil, cfg)
			// Two workers compete for the queue: a task handed to the
			// other while the first runs it would run twice.
			startWorker(t, b, "remote", "slow-remote", slowHandler(&runs))
			startWorker(t, b, "remote", "slow-remote", slowHandler(&runs))
			ids := make([]string, 3)
			for i := range ids {
				ids[i] = te.submit(t, &engine.SubmitParams{Type: "slow-remote", Queue: "remote", MaxAttempts: 3}).ID
			}
			for _, id := range ids {
				got := waitLong(t, te, id)
				if got.Status != loom.StatusCompleted || got.Attempt != 1 {
					t.Errorf("task %s: %s in attempt %d (%q), want completed in attempt 1", id, got.Status, got.Attempt, got.Msg)
					evs, _ := te.Events(context.Background(), &store.ListEventsParams{TaskID: id})
					for _, ev := range evs {
						t.Logf("%+v", ev)
					}
				}
			}
			runs.check(t, len(ids))
		})
	}
}

// TestLongFanOutItemsRunOnce runs a flow whose fan-out step's items each
// run longer than the AckWait and the lease: every item runs once.
func TestLongFanOutItemsRunOnce(t *testing.T) {
	t.Parallel()
	for _, bc := range runOnceBuses {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			var runs runCounter
			item := loom.NewTask("slow-item", loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
				runs.add(fmt.Sprint(in["item"]))
				if err := loom.Sleep(ctx, loom.SystemClock{}, itemRun); err != nil {
					return nil, err
				}
				return loom.Values{"done": in["item"]}, nil
			}))
			flow, err := loom.NewFlow("slow-fan", loom.FlowDef{
				Inputs: []string{"items"},
				Steps:  []loom.Step{{Task: item, FanOut: &loom.FanOut{Over: "items", Parallelism: 4}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			b := bc.open(t)
			te := setup(t, nil, shortConfig(b), flow)
			if b != nil {
				// A second engine on the same store and bus competes for the
				// step: redelivered to it, the step would run again.
				setup(t, te.store, shortConfig(b), flow)
			}
			items := []any{"a", "b"}
			info := te.submit(t, &engine.SubmitParams{Type: "slow-fan", Input: loom.Values{"items": items}})
			defer func() {
				if !t.Failed() {
					return
				}
				evs, _ := te.Events(context.Background(), &store.ListEventsParams{Limit: 1000})
				for _, ev := range evs {
					t.Logf("%s %s %s a%d %s %q", ev.Time.Format("05.000"), ev.TaskID[len(ev.TaskID)-4:], ev.Type, ev.Attempt, ev.Status, ev.Msg)
				}
			}()
			got := waitLong(t, te, info.ID)
			if got.Status != loom.StatusCompleted {
				t.Fatalf("flow %s: %q", got.Status, got.Msg)
			}
			runs.check(t, len(items))
		})
	}
}
