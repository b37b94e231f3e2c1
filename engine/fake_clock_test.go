package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/loomtest"
	"github.com/loomhq/loom/store"
)

// TestFakeClockSkipsBackoffAndTimers runs a flow durably on a fake clock
// under AutoAdvance: a step that fails once and retries after an hour's
// backoff, then a step that waits a day on the clock. The engine sleeps on
// the clock until the next due moment, so the clock jumps straight there:
// the flow completes a day and an hour later on the clock, in a fraction of
// a second of real time (logged, not asserted), and nothing expires on the way.
func TestFakeClockSkipsBackoffAndTimers(t *testing.T) {
	t.Parallel()
	clock := loomtest.NewFakeClock(time.Time{})
	start := clock.Now()
	var charges atomic.Int32
	charge := &loom.Task{
		Name:  "charge",
		Retry: &loom.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Hour},
		Handler: loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
			if charges.Add(1) == 1 {
				return nil, errors.New("card declined")
			}
			return loom.Values{"receipt": "r-1"}, nil
		}),
	}
	wait := loom.NewTask("wait-a-day", loom.HandlerFunc(func(ctx context.Context, _ loom.Values) (loom.Values, error) {
		if err := loom.Sleep(ctx, clock, 24*time.Hour); err != nil {
			return nil, err
		}
		return loom.Values{"woke": clock.Now().Format(time.RFC3339)}, nil
	}))
	flow, err := loom.NewFlow("billing", loom.FlowDef{Steps: []loom.Step{
		{Task: charge, Provides: map[string]string{"receipt": "receipt"}},
		{Task: wait, Requires: map[string]string{"receipt": "receipt"}, Provides: map[string]string{"woke": "woke"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	te := setup(t, nil, engine.Config{Clock: clock}, flow)
	stop := clock.AutoAdvance(context.Background(), 0)
	defer stop()

	began := time.Now()
	info := te.submit(t, &engine.SubmitParams{Type: "billing", Timeout: 72 * time.Hour})
	got := te.wait(t, info.ID)
	elapsed := time.Since(began)
	if got.Status != loom.StatusCompleted {
		t.Fatalf("flow %s: %s", got.Status, got.Msg)
	}
	if n := charges.Load(); n != 2 {
		t.Errorf("charge ran %d times, want 2", n)
	}
	// The retry waited its hour, the wait its day, and the clock did not
	// run on to the flow's expiry.
	if skipped := clock.Now().Sub(start); skipped < 25*time.Hour || skipped >= 72*time.Hour {
		t.Errorf("the clock moved %s, want between 25h and 72h", skipped)
	}
	woke, err := time.Parse(time.RFC3339, got.Output["woke"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if d := woke.Sub(start); d < 25*time.Hour {
		t.Errorf("the wait ended %s after the start, want at least a day and an hour", d)
	}
	evs, err := te.Events(context.Background(), &store.ListEventsParams{})
	if err != nil {
		t.Fatal(err)
	}
	retries := 0
	for _, ev := range evs {
		if ev.Type == "retrying" {
			retries++
			at, err := time.Parse(time.RFC3339Nano, ev.Data["retry_at"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if d := at.Sub(ev.Time); d != time.Hour {
				t.Errorf("retry due %s after the failure, want 1h", d)
			}
		}
	}
	if retries != 1 {
		t.Errorf("%d retrying events, want 1", retries)
	}
	t.Logf("%s of fake time in %s of real time", clock.Now().Sub(start), elapsed)
}

// TestTaskRetryPolicy submits failing tasks with a retry policy of their
// own: their retries wait as the task says, not as its type does, on the
// engine's clock; a policy out of range, or one for a task of a single
// attempt, is refused.
func TestTaskRetryPolicy(t *testing.T) {
	t.Parallel()
	clock := loomtest.NewFakeClock(time.Time{})
	fails := &loom.Task{Name: "fails", Retry: loom.FixedRetry(2, time.Second),
		Handler: loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
			return nil, errors.New("down")
		})}
	te := setup(t, nil, engine.Config{Clock: clock}, fails)
	stop := clock.AutoAdvance(context.Background(), 0)
	defer stop()

	retry := &loom.TaskRetry{InitialDelay: loom.Duration(time.Hour), BackoffFactor: 3, MaxDelay: loom.Duration(2 * time.Hour)}
	info := te.submit(t, &engine.SubmitParams{Type: "fails", MaxAttempts: 4, Retry: retry})
	if info.Retry == nil || *info.Retry != *retry {
		t.Fatalf("submitted task's retry %+v, want %+v", info.Retry, retry)
	}
	got := te.wait(t, info.ID)
	if got.Status != loom.StatusFailed || got.Attempt != 4 {
		t.Fatalf("got %s in attempt %d, want failed in attempt 4", got.Status, got.Attempt)
	}
	evs, err := te.Events(context.Background(), &store.ListEventsParams{TaskID: info.ID})
	if err != nil {
		t.Fatal(err)
	}
	var delays []time.Duration
	for _, ev := range evs {
		if ev.Type == "retrying" {
			at, err := time.Parse(time.RFC3339Nano, ev.Data["retry_at"].(string))
			if err != nil {
				t.Fatal(err)
			}
			delays = append(delays, at.Sub(ev.Time))
		}
	}
	// 1h, then 3h capped at 2h, twice.
	if want := []time.Duration{time.Hour, 2 * time.Hour, 2 * time.Hour}; fmt.Sprint(delays) != fmt.Sprint(want) {
		t.Fatalf("retry delays %v, want %v", delays, want)
	}

	for _, tc := range []struct {
		name string
		p    *engine.SubmitParams
		want string
	}{
		{"jitter out of range", &engine.SubmitParams{Type: "fails", MaxAttempts: 3,
			Retry: &loom.TaskRetry{InitialDelay: loom.Duration(time.Second), Jitter: 1.5}}, "Jitter 1.5 is outside [0, 1]"},
		{"factor below 1", &engine.SubmitParams{Type: "fails", MaxAttempts: 3,
			Retry: &loom.TaskRetry{InitialDelay: loom.Duration(time.Second), BackoffFactor: 0.5}}, "BackoffFactor 0.5"},
		{"negative delay", &engine.SubmitParams{Type: "fails", MaxAttempts: 3,
			Retry: &loom.TaskRetry{InitialDelay: loom.Duration(-time.Second)}}, "InitialDelay -1s is negative"},
		{"one attempt", &engine.SubmitParams{Type: "fails", MaxAttempts: 1,
			Retry: &loom.TaskRetry{InitialDelay: loom.Duration(time.Second)}}, "needs max_attempts of 2 or more"},
	} {
		_, _, err := te.Submit(context.Background(), tc.p)
		if !errors.Is(err, engine.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrInvalid saying %q", tc.name, err, tc.want)
		}
	}
}

// TestFakeClockWaitsForRealWork runs a handler that makes a real HTTP call
// (slow, in real time) under a per-attempt timeout on a fake clock under
// AutoAdvance: the clock is held while the call is in flight, so the
// timeout does not pass and the task completes in its first attempt.
func TestFakeClockWaitsForRealWork(t *testing.T) {
	t.Parallel()
	clock := loomtest.NewFakeClock(time.Time{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(50 * time.Millisecond) // real work, in real time
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	call := &loom.Task{Name: "call", Timeout: time.Second, Retry: loom.FixedRetry(3, time.Minute),
		Handler: loom.HandlerFunc(func(ctx context.Context, _ loom.Values) (loom.Values, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			if err != nil {
				return nil, loom.Permanent(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return loom.Values{"body": string(b)}, err
		})}
	te := setup(t, nil, engine.Config{Clock: clock}, call)
	stop := clock.AutoAdvance(context.Background(), 0)
	defer stop()
	got := te.wait(t, te.submit(t, &engine.SubmitParams{Type: "call"}).ID)
	if got.Status != loom.StatusCompleted || got.Attempt != 1 || got.Output["body"] != "ok" {
		t.Fatalf("got %s in attempt %d (%s), want completed in attempt 1", got.Status, got.Attempt, got.Msg)
	}
}
