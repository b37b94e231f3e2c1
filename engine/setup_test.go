package engine_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
)

// testEngine is an engine under test with the store it runs on.
type testEngine struct {
	*engine.Engine
	store store.Store
	stop  func()
}

// setup returns a running engine on a fresh store (or on st, to share one
// between engines), stopped at the end of the test.
func setup(t *testing.T, st store.Store, cfg engine.Config, tasks ...*loom.Task) *testEngine {
	t.Helper()
	te := newTestEngine(t, st, cfg, tasks...)
	te.start(t)
	return te
}

// newTestEngine returns an engine like setup's that is not running yet.
func newTestEngine(t *testing.T, st store.Store, cfg engine.Config, tasks ...*loom.Task) *testEngine {
	t.Helper()
	if st == nil {
		st = newStore(t)
	}
	cfg.Store = st
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.ReapInterval == 0 {
		cfg.ReapInterval = 20 * time.Millisecond
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if err := e.Register(task); err != nil {
			t.Fatal(err)
		}
	}
	te := &testEngine{Engine: e, store: st, stop: func() { _ = e.Close() }}
	t.Cleanup(func() { te.stop() })
	return te
}

// start runs the engine until the test ends or te.stop is called.
func (te *testEngine) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- te.Run(ctx) }()
	stopped := false
	te.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		_ = te.Close()
	}
}

// submit creates a task and fails the test on error.
func (te *testEngine) submit(t *testing.T, p *engine.SubmitParams) *loom.TaskInfo {
	t.Helper()
	info, _, err := te.Submit(context.Background(), p)
	if err != nil {
		t.Fatalf("submit %s: %v", p.Type, err)
	}
	return info
}

// wait waits for a task to end, at most 10 seconds.
func (te *testEngine) wait(t *testing.T, id string) *loom.TaskInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := te.Wait(ctx, id)
	if err != nil {
		t.Fatalf("wait %s: %v", id, err)
	}
	return info
}

// eventually polls cond until it holds, failing after 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func noop(name string) *loom.Task {
	return loom.NewTask(name, loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
		return loom.Values{}, nil
	}))
}
