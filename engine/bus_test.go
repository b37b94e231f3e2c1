package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/bus/memory"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
)

func newBus(t *testing.T) *memory.Bus {
	t.Helper()
	b, err := memory.New(memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// TestDuplicateResultRecordedOnce delivers a task's done message a second
// time, and a contradicting one: the store applies neither.
func TestDuplicateResultRecordedOnce(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	spy, err := b.ConsumeDone(context.Background(), bus.ConsumeOptions{Group: "spy"})
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close()
	te := setup(t, nil, engine.Config{Bus: b}, noop("dup"))
	info := te.submit(t, &engine.SubmitParams{Type: "dup"})
	first := te.wait(t, info.ID)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ds, err := spy.Receive(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	done := ds[0].Message
	if done.ID != info.ID || done.Result != bus.ResultComplete {
		t.Fatalf("spied %+v", done)
	}
	contra := done
	contra.Result, contra.Msg = bus.ResultError, "it failed after all"
	if err := b.PublishDone(ctx, done, contra); err != nil {
		t.Fatal(err)
	}
	// Results are recorded in order: once a later task has ended, the
	// duplicates have been seen.
	te.wait(t, te.submit(t, &engine.SubmitParams{Type: "dup"}).ID)
	res, err := te.store.FinishTasks(ctx, &store.FinishTasksParams{Now: time.Now(),
		Outcomes: []store.Outcome{{ID: info.ID, Attempt: done.Attempt, Status: loom.StatusFailed, Msg: "late"}}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Applied {
		t.Fatal("FinishTasks applied an outcome to an ended attempt")
	}
	got, err := te.Get(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != loom.StatusCompleted || got.Msg != first.Msg || !got.Ended.Equal(*first.Ended) {
		t.Fatalf("after duplicates: %s %q ended %v, want unchanged %s %q %v", got.Status, got.Msg, got.Ended, first.Status, first.Msg, first.Ended)
	}
	evs, err := te.Events(ctx, &store.ListEventsParams{TaskID: info.ID})
	if err != nil {
		t.Fatal(err)
	}
	ends := 0
	for _, ev := range evs {
		if strings.HasSuffix(ev.Type, "completed") || strings.HasSuffix(ev.Type, "failed") {
			ends++
		}
	}
	if ends != 1 {
		t.Fatalf("%d end events, want 1: %+v", ends, evs)
	}
}

// TestStandaloneWorkerOnExternalQueue runs a task type only a worker
// outside the engine knows, over a shared bus.
func TestStandaloneWorkerOnExternalQueue(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	te := setup(t, nil, engine.Config{Bus: b, Queues: []engine.Queue{{Name: loom.DefaultQueue}, {Name: "gpu", External: true}}})
	w, err := engine.NewWorker(engine.WorkerConfig{
		Bus:    b,
		Queues: []string{"gpu"},
		Handlers: map[string]loom.Handler{"resize": loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
			a, _ := loom.Attempt(ctx)
			return loom.Values{"w": in["w"].(float64) / 2, "attempt": a.Attempt}, nil
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
	if _, _, err := te.Submit(context.Background(), &engine.SubmitParams{Type: "resize"}); err == nil {
		t.Fatal("a type nobody registered was accepted on a queue the engine serves")
	}
	info := te.submit(t, &engine.SubmitParams{Type: "resize", Queue: "gpu", Input: loom.Values{"w": 640}})
	got := te.wait(t, info.ID)
	if got.Status != loom.StatusCompleted || got.Output["w"] != 320.0 || got.Output["attempt"] != 1.0 {
		t.Fatalf("got %s %q %v", got.Status, got.Msg, got.Output)
	}
}

// TestSeedWorkerSpeaksJSON answers a ready task the way a worker in any
// language would: decode the JSON task object, add result fields, publish
// it back.
func TestSeedWorkerSpeaksJSON(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	te := setup(t, nil, engine.Config{Bus: b, Queues: []engine.Queue{{Name: "py", External: true}}})
	c, err := b.Consume(context.Background(), "py", bus.ConsumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info := te.submit(t, &engine.SubmitParams{Type: "py-job", Queue: "py", Info: "do it", MaxAttempts: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ds, err := c.Receive(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(ds[0].Message)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	for _, k := range strings.Fields("id type queue attempt max_attempts info created timeout lease") {
		if _, ok := obj[k]; !ok {
			t.Errorf("ready task lacks %q: %s", k, raw)
		}
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	obj["result"], obj["msg"], obj["started"], obj["ended"] = "error", "disk full", now, now
	obj["permanent"] = true
	raw, _ = json.Marshal(obj)
	var done bus.Message
	if err := json.Unmarshal(raw, &done); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishDone(ctx, done); err != nil {
		t.Fatal(err)
	}
	if err := ds[0].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	got := te.wait(t, info.ID)
	if got.Status != loom.StatusFailed || got.Msg != "disk full" || got.Attempt != 1 {
		t.Fatalf("got %s %q after %d attempts, want failed for good after 1", got.Status, got.Msg, got.Attempt)
	}
}

// TestExecBuiltin runs the built-in exec type through the engine, with its
// output captured as the attempt's log.
func TestExecBuiltin(t *testing.T) {
	t.Parallel()
	te := setup(t, nil, engine.Config{})
	info := te.submit(t, &engine.SubmitParams{Type: "exec", Input: loom.Values{
		"command": []any{"sh", "-c", "echo hello from exec; echo to stderr >&2"},
	}})
	got := te.wait(t, info.ID)
	if got.Status != loom.StatusCompleted || got.Output["exit_code"] != 0.0 || got.Output["stdout"] != "hello from exec\n" {
		t.Fatalf("got %s %q %v", got.Status, got.Msg, got.Output)
	}
	logs, err := te.Logs(context.Background(), &store.GetLogsParams{TaskID: info.ID})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, c := range logs {
		text.WriteString(c.Data)
	}
	if !strings.Contains(text.String(), "hello from exec\n") || !strings.Contains(text.String(), "to stderr\n") {
		t.Fatalf("log %q", text.String())
	}
	// Handlers can leave a built-in out.
	bare := setup(t, nil, engine.Config{Handlers: map[string]loom.Handler{"exec": nil}})
	for _, name := range bare.Types() {
		if name == "exec" {
			t.Fatal("exec registered though Handlers left it out")
		}
	}
}

// TestExternalWorkerRetryAfter answers a ready task from outside with
// retry_after_ms: the engine keeps the task pending until then.
func TestExternalWorkerRetryAfter(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	te := setup(t, nil, engine.Config{Bus: b, Queues: []engine.Queue{{Name: "py", External: true}}})
	c, err := b.Consume(context.Background(), "py", bus.ConsumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info := te.submit(t, &engine.SubmitParams{Type: "py-job", Queue: "py", MaxAttempts: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ds, err := c.Receive(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	done := ds[0].Message
	done.Result, done.Msg, done.Started, done.Ended = bus.ResultError, "rate limited", &now, &now
	done.RetryAfterMS = 90_000
	if err := b.PublishDone(ctx, done); err != nil {
		t.Fatal(err)
	}
	if err := ds[0].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	var got *loom.TaskInfo
	eventually(t, "the attempt to be recorded", func() bool {
		g, err := te.Get(context.Background(), info.ID)
		if err != nil {
			t.Fatal(err)
		}
		got = g
		return g.Status == loom.StatusPending && g.Attempt == 1
	})
	if got.RunAt.Before(now.Add(90 * time.Second)) {
		t.Fatalf("retry at %s, want no sooner than 90s after %s", got.RunAt, now)
	}
	bad := done
	bad.RetryAfterMS = -1
	if err := b.PublishDone(ctx, bad); !errors.Is(err, bus.ErrInvalidMessage) {
		t.Fatalf("negative retry_after_ms published: %v", err)
	}
}
