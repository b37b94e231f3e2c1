package engine_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
)

// TestRetryBackoffIsDurable fails a task's first attempt, stops the engine
// while the retry waits out its backoff, and lets a second engine on the
// same store run the retry no earlier than the stored RunAt.
func TestRetryBackoffIsDurable(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	const backoff = 300 * time.Millisecond
	var calls atomic.Int32
	var secondAt atomic.Int64
	flaky := &loom.Task{
		Name:  "flaky-durable",
		Retry: loom.FixedRetry(3, backoff),
		Handler: loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
			if calls.Add(1) == 1 {
				return nil, errors.New("not yet")
			}
			secondAt.Store(time.Now().UnixNano())
			return loom.Values{"ok": true}, nil
		}),
	}
	a := setup(t, st, engine.Config{}, flaky)
	info := a.submit(t, &engine.SubmitParams{Type: "flaky-durable"})
	var pending *loom.TaskInfo
	eventually(t, "the first attempt to fail", func() bool {
		got, err := st.GetTask(context.Background(), info.ID)
		if err != nil {
			t.Fatal(err)
		}
		pending = got
		return got.Attempt == 1 && got.Status == loom.StatusPending
	})
	a.stop()
	if d := pending.RunAt.Sub(pending.Created); d < backoff {
		t.Fatalf("stored RunAt is %s after creation, want at least the backoff %s", d, backoff)
	}
	if calls.Load() != 1 {
		t.Fatalf("handler ran %d times before the restart", calls.Load())
	}

	b := setup(t, st, engine.Config{}, flaky)
	got := b.wait(t, info.ID)
	if got.Status != loom.StatusCompleted || got.Attempt != 2 {
		t.Fatalf("after restart: %s in attempt %d, want completed in attempt 2", got.Status, got.Attempt)
	}
	if ran := time.Unix(0, secondAt.Load()); ran.Before(pending.RunAt) {
		t.Fatalf("retry ran at %s, before its RunAt %s", ran, pending.RunAt)
	}
}

// TestLeaseExtendedWhileRunning runs a handler for several lease lengths:
// heartbeats keep it, so it completes in its first attempt.
func TestLeaseExtendedWhileRunning(t *testing.T) {
	t.Parallel()
	long := loom.NewTask("long", loom.HandlerFunc(func(ctx context.Context, _ loom.Values) (loom.Values, error) {
		return nil, loom.Sleep(ctx, loom.SystemClock{}, 1500*time.Millisecond)
	}))
	// Heartbeats come twenty times per lease, so that a loaded machine
	// that delays a few of them does not lose the lease.
	te := setup(t, nil, engine.Config{LeaseDuration: 500 * time.Millisecond, HeartbeatInterval: 25 * time.Millisecond}, long)
	got := te.wait(t, te.submit(t, &engine.SubmitParams{Type: "long"}).ID)
	if got.Status != loom.StatusCompleted || got.Attempt != 1 {
		t.Fatalf("got %s in attempt %d, want completed in attempt 1", got.Status, got.Attempt)
	}
}

// TestRetryAfterHintIsKept fails an attempt with loom.RetryAfter: the
// hint travels on the done message, so the retry is stored no sooner than
// it asks even though the type's own backoff is zero.
func TestRetryAfterHintIsKept(t *testing.T) {
	t.Parallel()
	const hint = time.Hour
	limited := &loom.Task{
		Name:  "rate-limited",
		Retry: loom.FixedRetry(3, 0),
		Handler: loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
			return nil, loom.RetryAfter(errors.New("429 too many requests"), hint)
		}),
	}
	te := setup(t, nil, engine.Config{}, limited)
	info := te.submit(t, &engine.SubmitParams{Type: "rate-limited", MaxAttempts: 3})
	var got *loom.TaskInfo
	eventually(t, "the first attempt to fail", func() bool {
		g, err := te.Get(context.Background(), info.ID)
		if err != nil {
			t.Fatal(err)
		}
		got = g
		return g.Attempt == 1 && g.Status == loom.StatusPending
	})
	if d := got.RunAt.Sub(got.Created); d < hint {
		t.Fatalf("retry stored %s after creation, want at least the hint %s", d, hint)
	}
}

// TestBreakerEventsReachConfigEvents opens a task type's breaker with a
// failure and closes it with a later success: both transitions reach the
// engine's Events, named after the breaker and the task type.
func TestBreakerEventsReachConfigEvents(t *testing.T) {
	t.Parallel()
	breaker := loom.MustCircuitBreaker(loom.BreakerConfig{Name: "payments-api", FailureThreshold: 1, Cooldown: 20 * time.Millisecond})
	var fail atomic.Bool
	fail.Store(true)
	task := &loom.Task{
		Name:    "charge",
		Breaker: breaker,
		Handler: loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
			if fail.Load() {
				return nil, errors.New("payments api down")
			}
			return loom.Values{}, nil
		}),
	}
	events := make(chan loom.Event, 16)
	em := loom.NewEventEmitter()
	// Config.Events carries task events too; this test follows the
	// breaker's.
	em.On("", func(_ context.Context, e loom.Event) {
		if e.Breaker != "" {
			events <- e
		}
	})
	te := setup(t, nil, engine.Config{Events: em}, task)

	first := te.wait(t, te.submit(t, &engine.SubmitParams{Type: "charge"}).ID)
	if first.Status != loom.StatusFailed {
		t.Fatalf("first charge %s, want failed", first.Status)
	}
	var e loom.Event
	select {
	case e = <-events:
	case <-time.After(time.Minute):
		t.Fatal("no breaker event")
	}
	if e.Type != loom.EventBreakerOpened || e.Breaker != "payments-api" || e.Task != "charge" || e.Error != "payments api down" {
		t.Fatalf("first event %+v, want breaker.opened of payments-api for charge", e)
	}
	fail.Store(false)
	// Refused while open, the attempt is retried after the cool-down the
	// breaker asks for; its success closes the breaker.
	second := te.wait(t, te.submit(t, &engine.SubmitParams{Type: "charge", MaxAttempts: 20}).ID)
	if second.Status != loom.StatusCompleted {
		t.Fatalf("second charge %s %q, want completed", second.Status, second.Msg)
	}
	hang := time.After(time.Minute)
	for {
		select {
		case e := <-events:
			if e.Type == loom.EventBreakerClosed {
				return
			}
			if e.Type != loom.EventBreakerHalf {
				t.Fatalf("event %+v before the breaker closed", e)
			}
		case <-hang:
			t.Fatal("no breaker.closed event")
		}
	}
}
