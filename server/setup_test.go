package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/server"
	"github.com/loomhq/loom/store"
)

// env is a server over a real engine on a fresh store.
type env struct {
	engine *engine.Engine
	srv    *httptest.Server
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testHandlers are the task types every test engine knows: "echo" logs a
// line and returns its input, "fail" fails for good.
func testHandlers() map[string]loom.Handler {
	return map[string]loom.Handler{
		"echo": loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
			fmt.Fprintln(loom.LogWriter(ctx), "hello from echo")
			return in, nil
		}),
		"fail": loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
			return nil, loom.Permanent(fmt.Errorf("failing on purpose"))
		}),
	}
}

// setup returns a server over an engine on a fresh store. With run, the
// engine runs (embedded workers) until the test ends.
func setup(t *testing.T, run bool, cfg server.Config) *env {
	t.Helper()
	st := openStore(t)
	return setupWithStore(t, st, testHandlers(), run, cfg)
}

func setupWithStore(t *testing.T, st store.Store, handlers map[string]loom.Handler, run bool, cfg server.Config) *env {
	t.Helper()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e, err := engine.New(engine.Config{
		Store:        st,
		Logger:       logger,
		Workers:      2,
		PollInterval: 50 * time.Millisecond,
		ReapInterval: 50 * time.Millisecond,
		Handlers:     handlers,
	})
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	if run {
		go func() { done <- e.Run(ctx) }()
	} else {
		done <- nil
	}
	cfg.Engine = e
	cfg.Logger = logger
	srv := httptest.NewServer(server.New(cfg))
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("engine.Run: %v", err)
		}
		_ = e.Close()
	})
	return &env{engine: e, srv: srv, logs: logs}
}

// response is what a request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with body (none when empty), as JSON for a write, as
// every client must, and returns the answer.
func (e *env) do(t *testing.T, method, path, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if method != http.MethodGet && method != http.MethodHead {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// decode decodes the answer's body into v, failing the test if it is not
// JSON of that shape.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// task decodes a task object, requiring status want.
func (r response) task(t *testing.T, want int) *loom.TaskInfo {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body %s", r.status, want, r.body)
	}
	var task loom.TaskInfo
	r.decode(t, &task)
	return &task
}

// wantError requires an error answer with status and code.
func (r response) wantError(t *testing.T, status int, code string) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	r.decode(t, &body)
	if body.Error.Code != code {
		t.Fatalf("code %q, want %q; body %s", body.Error.Code, code, r.body)
	}
	if body.Error.Message == "" {
		t.Errorf("error without a message: %s", r.body)
	}
	return body.Error.Message
}

// waitStatus polls the task until it has status want.
func (e *env) waitStatus(t *testing.T, id string, want loom.Status) *loom.TaskInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		task := e.do(t, "GET", "/api/v1/tasks/"+id, "").task(t, http.StatusOK)
		if task.Status == want {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: status %s after 10s, want %s", id, task.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
