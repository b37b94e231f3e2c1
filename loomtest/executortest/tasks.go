package executortest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loomhq/loom"
)

// counted is a task whose handler counts its calls and runs fn.
func counted(name string, calls *atomic.Int64, fn func(ctx context.Context, call int64, in loom.Values) (loom.Values, error)) *loom.Task {
	return loom.NewTask(name, loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		return fn(ctx, calls.Add(1), in)
	}))
}

var errFlaky = errors.New("flaky dependency")

var taskTests = []test{
	{name: "Completes", run: func(t *testing.T, e *env) {
		var calls atomic.Int64
		task := counted("echo", &calls, func(_ context.Context, _ int64, in loom.Values) (loom.Values, error) {
			s, _ := in.String("msg")
			return loom.Values{"echo": s}, nil
		})
		res := e.mustRun(t, task, loom.Values{"msg": "hi"})
		if got, _ := res.Output.String("echo"); got != "hi" {
			t.Errorf("output %v", res.Output)
		}
		if res.Attempts != 1 || res.RunID == "" || res.Name != "echo" || res.Replayed {
			t.Errorf("result %+v", res)
		}
		if res.Started.IsZero() || res.Ended.Before(res.Started) {
			t.Errorf("times: started %v, ended %v", res.Started, res.Ended)
		}
		if calls.Load() != 1 {
			t.Errorf("handler called %d times", calls.Load())
		}
	}},
	{name: "RetryUntilCompleted", run: func(t *testing.T, e *env) {
		var calls atomic.Int64
		task := counted("flaky", &calls, func(_ context.Context, n int64, _ loom.Values) (loom.Values, error) {
			if n < 3 {
				return nil, errFlaky
			}
			return loom.Values{"ok": true}, nil
		})
		task.Retry = &loom.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Millisecond, BackoffFactor: 2}
		res := e.mustRun(t, task, nil)
		if res.Attempts != 3 || calls.Load() != 3 {
			t.Errorf("attempts %d, calls %d; want 3 and 3", res.Attempts, calls.Load())
		}
	}},
	{name: "RetryExhausted", run: func(t *testing.T, e *env) {
		var calls atomic.Int64
		task := counted("down", &calls, func(context.Context, int64, loom.Values) (loom.Values, error) {
			return nil, errFlaky
		})
		task.Retry = &loom.RetryPolicy{MaxAttempts: 2, InitialDelay: time.Millisecond}
		res := e.mustFail(t, task, nil, loom.StatusFailed)
		if res.Attempts != 2 || calls.Load() != 2 {
			t.Errorf("attempts %d, calls %d; want 2 and 2", res.Attempts, calls.Load())
		}
		if !strings.Contains(res.Message, errFlaky.Error()) {
			t.Errorf("message %q does not carry the handler's error", res.Message)
		}
	}},
	{name: "PermanentNotRetried", run: func(t *testing.T, e *env) {
		var calls atomic.Int64
		task := counted("bad-input", &calls, func(context.Context, int64, loom.Values) (loom.Values, error) {
			return nil, loom.Permanent(errors.New("no such account"))
		})
		task.Retry = &loom.RetryPolicy{MaxAttempts: 5, InitialDelay: time.Millisecond}
		res := e.mustFail(t, task, nil, loom.StatusFailed)
		if res.Attempts != 1 || calls.Load() != 1 {
			t.Errorf("attempts %d, calls %d; want 1 and 1", res.Attempts, calls.Load())
		}
	}},
	{name: "Backoff", run: func(t *testing.T, e *env) {
		var calls atomic.Int64
		task := counted("backoff", &calls, func(_ context.Context, n int64, _ loom.Values) (loom.Values, error) {
			if n < 4 {
				return nil, errFlaky
			}
			return loom.Values{}, nil
		})
		task.Retry = &loom.RetryPolicy{MaxAttempts: 4, InitialDelay: time.Millisecond, BackoffFactor: 3, MaxDelay: 5 * time.Millisecond}
		res := e.mustRun(t, task, nil)
		e.ended(t, res.RunID)
		var delays []time.Duration
		for _, ev := range e.rec.Events() {
			if ev.RunID == res.RunID && ev.Type == loom.EventTaskRetrying {
				delays = append(delays, ev.Delay)
				if ev.Error == "" {
					t.Errorf("retrying event of attempt %d has no Error", ev.Attempt)
				}
			}
		}
		want := []time.Duration{time.Millisecond, 3 * time.Millisecond, 5 * time.Millisecond}
		if !slices.Equal(delays, want) {
			t.Errorf("backoff delays %v, want %v (factor 3, capped at MaxDelay)", delays, want)
		}
	}},
	{name: "Timeout", run: func(t *testing.T, e *env) {
		task := loom.NewTask("slow", loom.HandlerFunc(func(ctx context.Context, _ loom.Values) (loom.Values, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}))
		task.Timeout = 20 * time.Millisecond
		res := e.mustFail(t, task, nil, loom.StatusFailed)
		if !errors.Is(res.Err, loom.ErrTimeout) {
			t.Errorf("error %v does not match loom.ErrTimeout", res.Err)
		}
	}},
	{name: "Panic", run: func(t *testing.T, e *env) {
		task := loom.NewTask("panics", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
			panic("kaboom")
		}))
		res := e.mustFail(t, task, nil, loom.StatusFailed)
		if !strings.Contains(res.Message, "kaboom") {
			t.Errorf("message %q does not carry the panic", res.Message)
		}
	}},
	{name: "BreakerOpens", run: func(t *testing.T, e *env) {
		var calls atomic.Int64
		task := counted("guarded", &calls, func(context.Context, int64, loom.Values) (loom.Values, error) {
			return nil, errFlaky
		})
		task.Breaker = loom.MustCircuitBreaker(loom.BreakerConfig{Name: "downstream", FailureThreshold: 2, Cooldown: time.Hour})
		e.mustFail(t, task, nil, loom.StatusFailed)
		e.mustFail(t, task, nil, loom.StatusFailed)
		res := e.mustFail(t, task, nil, loom.StatusFailed)
		if calls.Load() != 2 {
			t.Errorf("handler called %d times; the open breaker should have stopped the third run", calls.Load())
		}
		if !errors.Is(res.Err, loom.ErrCircuitOpen) {
			t.Errorf("error %v does not match loom.ErrCircuitOpen", res.Err)
		}
		if _, err := e.rec.WaitFor(ctx(t), func(ev loom.Event) bool {
			return ev.Type == loom.EventBreakerOpened && ev.Breaker == "downstream"
		}); err != nil {
			t.Errorf("no breaker.opened event: %v", err)
		}
	}},
	{name: "CancelRunning", run: func(t *testing.T, e *env) {
		started := make(chan struct{})
		task := loom.NewTask("waits", loom.HandlerFunc(func(ctx context.Context, _ loom.Values) (loom.Values, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		}))
		runCtx, cancel := context.WithCancel(ctx(t))
		defer cancel()
		// Cancel from another goroutine once the handler runs: Execute
		// returns only when the run has ended.
		go func() {
			select {
			case <-started:
				cancel()
			case <-runCtx.Done():
			}
		}()
		res, err := e.ex.Execute(runCtx, task, nil)
		res = checkFailed(t, task.Name, res, err, loom.StatusCancelled)
		if !errors.Is(res.Err, loom.ErrCancelled) {
			t.Errorf("error %v does not match loom.ErrCancelled", res.Err)
		}
		if ev := e.ended(t, res.RunID); ev.Type != loom.EventTaskCancelled {
			t.Errorf("run ended with %s, want %s", ev.Type, loom.EventTaskCancelled)
		}
	}},
	{name: "StartThenWait", run: func(t *testing.T, e *env) {
		task := loom.NewTask("later", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
			n, _ := in.Int("n")
			return loom.Values{"n": n + 1}, nil
		}))
		h, err := e.ex.Start(ctx(t), task, loom.Values{"n": 1})
		if err != nil {
			t.Fatal(err)
		}
		res, err := h.Wait(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-h.Done():
		default:
			t.Error("Done is open after Wait returned")
		}
		if n, _ := res.Output.Int("n"); n != 2 || res.RunID != h.RunID() {
			t.Errorf("result %+v of handle %s", res, h.RunID())
		}
	}},
}
