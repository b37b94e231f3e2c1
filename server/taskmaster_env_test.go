package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/server"
	"github.com/loomhq/loom/store/sqlite"
	"github.com/loomhq/loom/taskmaster"
)

// setupTaskmaster returns a server over a running engine and a running
// taskmaster on a fresh store, so every route of the API is served. All
// of it stops when the test ends.
func setupTaskmaster(t *testing.T) *env {
	t.Helper()
	st := openStore(t).(*sqlite.Store)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := engine.New(engine.Config{
		Store: st, Logger: logger, Workers: 2,
		PollInterval: 50 * time.Millisecond, ReapInterval: 50 * time.Millisecond,
		ShutdownTimeout: time.Second, Handlers: testHandlers(),
	})
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	tm, err := taskmaster.New(taskmaster.Config{Engine: e, Store: st, Logger: logger, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("taskmaster.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	engineDone, tmDone := make(chan error, 1), make(chan error, 1)
	go func() { engineDone <- e.Run(ctx) }()
	go func() { tmDone <- tm.Run(ctx) }()
	srv := httptest.NewServer(server.New(server.Config{Engine: e, Logger: logger, Taskmaster: tm}))
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-tmDone; err != nil {
			t.Errorf("taskmaster.Run: %v", err)
		}
		if err := <-engineDone; err != nil {
			t.Errorf("engine.Run: %v", err)
		}
		_ = e.Close()
	})
	return &env{engine: e, srv: srv, logs: logs}
}
