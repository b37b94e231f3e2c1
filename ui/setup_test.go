package ui_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/sqlite"
	"github.com/loomhq/loom/taskmaster"
	"github.com/loomhq/loom/ui"
)

func TestMain(m *testing.M) {
	code := m.Run()
	closeBenchDB()
	os.Exit(code)
}

// env is a running engine with the UI served over HTTP, and a
// taskmaster whose loops do not run: what a test puts in its store stays
// as the test put it, unless the test starts them (runTaskmaster).
type env struct {
	engine *engine.Engine
	store  *sqlite.Store
	tm     *taskmaster.Taskmaster
	srv    *httptest.Server
	flaky  *flakyHandler
}

// flakyHandler fails the first attempt of each distinct input "key" and
// succeeds afterwards, writing a line to the attempt's log each time.
type flakyHandler struct {
	mu    sync.Mutex
	calls map[string]int
	delay time.Duration
}

func (h *flakyHandler) Handle(ctx context.Context, in loom.Values) (loom.Values, error) {
	key := fmt.Sprint(in["key"])
	h.mu.Lock()
	h.calls[key]++
	n := h.calls[key]
	h.mu.Unlock()
	w := loom.LogWriter(ctx)
	fmt.Fprintf(w, "call %d for key %s <script>alert(1)</script>\n", n, key)
	if h.delay > 0 {
		select {
		case <-time.After(h.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if n == 1 {
		fmt.Fprintf(w, "the downstream is not ready yet\n")
		return nil, errors.New("first call fails: <b>not ready</b>")
	}
	fmt.Fprintf(w, "done\n")
	return loom.Values{"key": key, "calls": n}, nil
}

// openStore opens a SQLite store in a directory of its own that the test
// removes, closed when the test ends.
func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "loom.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return st
}

// setup starts an engine on a fresh SQLite store with the "flaky",
// "echo" and "slow" task types and the "pipeline" flow, and the UI over
// it.
func setup(t *testing.T) *env {
	t.Helper()
	st := openStore(t)
	flaky := &flakyHandler{calls: map[string]int{}}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := engine.New(engine.Config{
		Store: st, Logger: logger, Workers: 4,
		PollInterval: 50 * time.Millisecond, LogFlushInterval: 20 * time.Millisecond,
		ReapInterval: 100 * time.Millisecond, ShutdownTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	flakyTask := &loom.Task{Name: "flaky", Handler: flaky}
	if err := e.Register(flakyTask); err != nil {
		t.Fatal(err)
	}
	// flaky-retry fails its first attempt and is retried by its policy.
	if err := e.Register(&loom.Task{Name: "flaky-retry", Handler: flaky, Retry: &loom.RetryPolicy{MaxAttempts: 3, InitialDelay: 20 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	echo := loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		fmt.Fprintln(loom.LogWriter(ctx), "echo", in)
		return in, nil
	})
	echoTask := &loom.Task{Name: "echo", Handler: echo}
	if err := e.Register(echoTask); err != nil {
		t.Fatal(err)
	}
	slow := loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		n := 30
		if f, ok := in["ticks"].(float64); ok {
			n = int(f)
		}
		w := loom.LogWriter(ctx)
		for i := 1; i <= n; i++ {
			fmt.Fprintf(w, "tick %d of %d\n", i, n)
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return loom.Values{"ticks": n}, nil
	})
	slowTask := &loom.Task{Name: "slow", Handler: slow}
	if err := e.Register(slowTask); err != nil {
		t.Fatal(err)
	}
	// pipeline: extract -> transform (fails its first attempt per key) ->
	// load (slow), with audit beside transform.
	extract := &loom.Task{Name: "extract", Handler: loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		fmt.Fprintln(loom.LogWriter(ctx), "extracting for", in["key"])
		return loom.Values{"rows": 3}, nil
	})}
	pipeline, err := loom.NewFlow("pipeline", loom.FlowDef{
		Inputs: []string{"key"},
		Steps: []loom.Step{
			{Name: "extract", Task: extract, Requires: map[string]string{"key": "key"}, Provides: map[string]string{"rows": "rows"}},
			{Name: "transform", Task: flakyTask, Requires: map[string]string{"key": "key", "rows": "rows"}, Provides: map[string]string{"calls": "calls"}},
			{Name: "audit", Task: echoTask, Requires: map[string]string{"rows": "rows"}},
			{Name: "load", Task: slowTask, Requires: map[string]string{"calls": "calls"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Register(pipeline); err != nil {
		t.Fatal(err)
	}
	tm, err := taskmaster.New(taskmaster.Config{Engine: e, Store: st, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	srv := httptest.NewServer(ui.New(ui.Config{Engine: e, Taskmaster: tm, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), LivePollInterval: 50 * time.Millisecond}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		// Stopped while starting, Run reports the cancellation.
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("engine: %v", err)
		}
		_ = e.Close()
	})
	return &env{engine: e, store: st, tm: tm, srv: srv, flaky: flaky}
}

// runTaskmaster runs the taskmaster's loops until the test ends.
func (v *env) runTaskmaster(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.tm.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("taskmaster: %v", err)
		}
	})
}

// eventually waits, polling, until cond holds; it fails the test with
// what when it does not within a generous deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so within 45s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// get fetches path and returns the status and body.
func (v *env) get(t *testing.T, path string) (int, string) {
	t.Helper()
	res, err := http.Get(v.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// waitStatus waits until the task has the status.
func (v *env) waitStatus(t *testing.T, id string, want loom.Status) *loom.TaskInfo {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		tk, err := v.engine.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if tk.Status == want {
			return tk
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s is %s, want %s", id, tk.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustContain(t *testing.T, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Errorf("body does not contain %q", s)
		}
	}
}

// seedTaskmasters gives the taskmaster pages something to show: a
// schedule in Paris with a completed run, a late one and a paused one;
// checks new, up and late; two triggers; a notifier and an open alert
// (with a script in its message) whose delivery was refused.
func (v *env) seedTaskmasters(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	v.createSchedule(t, "nightly", "30 2 * * *", "Europe/Paris")
	run := v.scheduledRun(t, "nightly", time.Now().Add(-time.Hour).Truncate(time.Minute))
	v.waitStatus(t, run.ID, loom.StatusCompleted)
	late := v.createSchedule(t, "every-minute", "@every 1m", "")
	if _, err := v.store.UpdateSchedule(ctx, &store.UpdateScheduleParams{Schedule: late.Schedule, ResetCursor: time.Now().Add(-2 * time.Hour), Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	v.createSchedule(t, "month-end-report", "0 18 28 * *", "America/New_York")
	if _, err := v.tm.SetPaused(ctx, "month-end-report", true); err != nil {
		t.Fatal(err)
	}

	for _, c := range []*store.Check{{Name: "backup", Period: time.Hour, Grace: 5 * time.Minute}, {Name: "etl-heartbeat", Period: 24 * time.Hour}} {
		if _, err := v.tm.CreateCheck(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.tm.PingCheck(ctx, "etl-heartbeat"); err != nil {
		t.Fatal(err)
	}
	if err := v.store.CreateCheck(ctx, &store.Check{Name: "silent-cron", Period: time.Minute, Grace: 30 * time.Second, Created: time.Now().Add(-2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}

	if _, err := v.tm.PutTrigger(ctx, &store.Trigger{Name: "orders", Kind: store.TriggerEvent, Filter: `type == "order.created" && data.total > 100`,
		Mapping: map[string]string{"key": "data.id"}, Secret: "s3cret", Task: store.TaskTemplate{Type: "flaky"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.tm.PutTrigger(ctx, &store.Trigger{Name: "after-flaky", Kind: store.TriggerCompletion, OnType: "flaky", OnResult: loom.ResultError,
		Task: store.TaskTemplate{Type: "echo"}}); err != nil {
		t.Fatal(err)
	}

	if _, err := v.tm.PutNotifier(ctx, &store.Notifier{Name: "ops-slack", URL: "https://hooks.example.com/services/T0/B0/XXXX", Format: store.FormatSlack}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, _, err := v.store.OpenAlert(ctx, &store.OpenAlertParams{Notify: []string{"ops-slack"}, Alert: store.Alert{
		Key: "check_late:silent-cron", Kind: store.AlertCheckLate, Subject: "silent-cron",
		Message: "check silent-cron is late: <script>alert(1)</script>", Opened: now.Add(-90 * time.Minute),
	}}); err != nil {
		t.Fatal(err)
	}
	due, err := v.store.DueDeliveries(ctx, now.Add(time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range due {
		d.Attempts, d.LastCode, d.LastError, d.NextAt, d.Updated = 2, 503, "notify ops-slack: answered 503 Service Unavailable", now.Add(2*time.Minute), now
		if err := v.store.UpdateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
}
