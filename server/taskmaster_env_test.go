package server_test

import (
	"context"
	"github.com/loomhq/loom/auth"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
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
func setupTaskmaster(tb testing.TB) *env {
	tb.Helper()
	e, _ := startTaskmaster(tb, filepath.Join(tb.TempDir(), "loom.db"))
	return e
}

// startTaskmaster starts an engine, a taskmaster and the API over the
// SQLite store at path. stop shuts all of it down and closes the store,
// reporting what did not stop cleanly; it runs when tb ends if not
// before.
func startTaskmaster(tb testing.TB, path string) (e *env, stop func()) {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: path})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.New(engine.Config{
		Store: st, Logger: logger, Workers: 2,
		// Nothing here waits on reaping; a slow reaper keeps the store
		// for the requests.
		PollInterval: 50 * time.Millisecond, ReapInterval: time.Second,
		ShutdownTimeout: time.Second, Handlers: testHandlers(),
	})
	if err != nil {
		tb.Fatalf("engine.New: %v", err)
	}
	tm, err := taskmaster.New(taskmaster.Config{Engine: eng, Store: st, Logger: logger, PollInterval: 50 * time.Millisecond})
	if err != nil {
		tb.Fatalf("taskmaster.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	engineDone, tmDone := make(chan error, 1), make(chan error, 1)
	go func() { engineDone <- eng.Run(ctx) }()
	go func() { tmDone <- tm.Run(ctx) }()
	srv := httptest.NewServer(server.New(server.Config{Engine: eng, Logger: logger, Taskmaster: tm, Auth: auth.New(auth.Config{Tokens: st})}))
	var once sync.Once
	stop = func() {
		once.Do(func() {
			srv.Close()
			cancel()
			if err := <-tmDone; err != nil {
				tb.Errorf("taskmaster.Run: %v", err)
			}
			if err := <-engineDone; err != nil {
				tb.Errorf("engine.Run: %v", err)
			}
			if err := eng.Close(); err != nil {
				tb.Errorf("engine.Close: %v", err)
			}
			if err := st.Close(); err != nil {
				tb.Errorf("close store: %v", err)
			}
		})
	}
	tb.Cleanup(stop)
	return &env{engine: eng, srv: srv, logs: &syncBuffer{}}, stop
}
