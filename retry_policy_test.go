package loom_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/loomtest"
)

var errFlaky = errors.New("flaky dependency")

func TestRetryPolicyNext(t *testing.T) {
	t.Parallel()

	const maxDuration = time.Duration(math.MaxInt64)

	tests := []struct {
		name      string
		policy    *loom.RetryPolicy
		attempt   int
		err       error
		wantDelay time.Duration
		wantRetry bool
	}{
		{"nil policy", nil, 1, errFlaky, 0, false},
		{"zero policy", &loom.RetryPolicy{}, 1, errFlaky, 0, false},
		{"one attempt", loom.FixedRetry(1, time.Second), 1, errFlaky, 0, false},
		{"no error", loom.FixedRetry(3, time.Second), 1, nil, 0, false},

		{"fixed first", loom.FixedRetry(5, time.Second), 1, errFlaky, time.Second, true},
		{"fixed later", loom.FixedRetry(5, time.Second), 4, errFlaky, time.Second, true},
		{"zero factor is fixed", &loom.RetryPolicy{MaxAttempts: 5, InitialDelay: time.Second}, 3, errFlaky, time.Second, true},
		{"zero delay", loom.FixedRetry(3, 0), 1, errFlaky, 0, true},

		{"exponential 1", loom.ExponentialRetry(10, time.Second, 2, 0), 1, errFlaky, time.Second, true},
		{"exponential 2", loom.ExponentialRetry(10, time.Second, 2, 0), 2, errFlaky, 2 * time.Second, true},
		{"exponential 4", loom.ExponentialRetry(10, time.Second, 2, 0), 4, errFlaky, 8 * time.Second, true},
		{"exponential factor 3", loom.ExponentialRetry(10, 100*time.Millisecond, 3, 0), 3, errFlaky, 900 * time.Millisecond, true},
		{"capped", loom.ExponentialRetry(10, time.Second, 2, 5*time.Second), 4, errFlaky, 5 * time.Second, true},
		{"below cap", loom.ExponentialRetry(10, time.Second, 2, 5*time.Second), 3, errFlaky, 4 * time.Second, true},
		{"huge attempt capped", loom.ExponentialRetry(math.MaxInt, time.Second, 2, time.Hour), 1 << 20, errFlaky, time.Hour, true},
		{"huge attempt uncapped saturates", loom.ExponentialRetry(math.MaxInt, time.Second, 10, 0), 1000, errFlaky, maxDuration, true},
		{"attempt zero counts as first", loom.ExponentialRetry(3, time.Second, 2, 0), 0, errFlaky, time.Second, true},

		{"last attempt", loom.FixedRetry(3, time.Second), 3, errFlaky, 0, false},
		{"past last attempt", loom.FixedRetry(3, time.Second), 7, errFlaky, 0, false},
		{"second to last attempt", loom.FixedRetry(3, time.Second), 2, errFlaky, time.Second, true},

		{"permanent", loom.FixedRetry(3, time.Second), 1, loom.Permanent(errFlaky), 0, false},
		{"wrapped permanent", loom.FixedRetry(3, time.Second), 1, fmt.Errorf("call: %w", loom.Permanent(errFlaky)), 0, false},
		{"permanent beats retry-after", loom.FixedRetry(3, time.Second), 1, loom.RetryAfter(loom.Permanent(errFlaky), time.Minute), 0, false},
		{"canceled", loom.FixedRetry(3, time.Second), 1, fmt.Errorf("call: %w", context.Canceled), 0, false},
		{"loom cancelled", loom.FixedRetry(3, time.Second), 1, loom.ErrCancelled, 0, false},
		{"deadline exceeded", loom.FixedRetry(3, time.Second), 1, fmt.Errorf("call: %w", context.DeadlineExceeded), time.Second, true},
		{"loom timeout", loom.FixedRetry(3, time.Second), 1, loom.ErrTimeout, time.Second, true},
		{"timeout and canceled is a timeout", loom.FixedRetry(3, time.Second), 1, fmt.Errorf("%w: %w", loom.ErrTimeout, context.Canceled), time.Second, true},

		{"retry-after longer", loom.FixedRetry(3, time.Second), 1, loom.RetryAfter(errFlaky, 10*time.Second), 10 * time.Second, true},
		{"retry-after shorter", loom.FixedRetry(3, time.Second), 1, loom.RetryAfter(errFlaky, time.Millisecond), time.Second, true},
		{"retry-after wrapped", loom.FixedRetry(3, time.Second), 1, fmt.Errorf("get: %w", loom.RetryAfter(errFlaky, time.Minute)), time.Minute, true},
		{"retry-after beats cap", loom.ExponentialRetry(3, time.Second, 2, 5*time.Second), 1, loom.RetryAfter(errFlaky, time.Minute), time.Minute, true},
		{"retry-after negative", loom.FixedRetry(3, time.Second), 1, loom.RetryAfter(errFlaky, -time.Minute), time.Second, true},
		{"retry-after still bounded by attempts", loom.FixedRetry(3, time.Second), 3, loom.RetryAfter(errFlaky, time.Minute), 0, false},
		{"circuit open", loom.FixedRetry(3, time.Second), 1, &loom.CircuitOpenError{Breaker: "b", Remaining: 20 * time.Second}, 20 * time.Second, true},

		{"out-of-range factor treated as fixed", &loom.RetryPolicy{MaxAttempts: 5, InitialDelay: time.Second, BackoffFactor: 0.5}, 3, errFlaky, time.Second, true},
		{"negative delay treated as zero", loom.FixedRetry(3, -time.Second), 1, errFlaky, 0, true},
		{"negative jitter ignored", &loom.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Second, Jitter: -1}, 1, errFlaky, time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			delay, retry := tt.policy.Next(tt.attempt, tt.err)
			if delay != tt.wantDelay || retry != tt.wantRetry {
				t.Errorf("Next(%d, %v) = (%s, %t), want (%s, %t)", tt.attempt, tt.err, delay, retry, tt.wantDelay, tt.wantRetry)
			}
		})
	}
}

func TestRetryPolicyJitter(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		policy   *loom.RetryPolicy
		attempt  int
		min, max time.Duration
	}{
		{"20 percent", &loom.RetryPolicy{MaxAttempts: 3, InitialDelay: 10 * time.Second, Jitter: 0.2}, 1, 8 * time.Second, 12 * time.Second},
		{"full", &loom.RetryPolicy{MaxAttempts: 3, InitialDelay: 10 * time.Second, Jitter: 1}, 1, 0, 20 * time.Second},
		{"clamped above 1", &loom.RetryPolicy{MaxAttempts: 3, InitialDelay: 10 * time.Second, Jitter: 5}, 1, 0, 20 * time.Second},
		{"exponential", &loom.RetryPolicy{MaxAttempts: 5, InitialDelay: time.Second, BackoffFactor: 2, Jitter: 0.5}, 3, 2 * time.Second, 6 * time.Second},
		{"never above cap", &loom.RetryPolicy{MaxAttempts: 5, InitialDelay: 10 * time.Second, MaxDelay: 10 * time.Second, Jitter: 0.3}, 2, 7 * time.Second, 10 * time.Second},
		{"saturated", &loom.RetryPolicy{MaxAttempts: math.MaxInt, InitialDelay: time.Second, BackoffFactor: 2, Jitter: 1}, 5000, 0, time.Duration(math.MaxInt64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const samples = 2000
			seen := make(map[time.Duration]bool)
			for range samples {
				delay, retry := tt.policy.Next(tt.attempt, errFlaky)
				if !retry {
					t.Fatalf("Next(%d) did not retry", tt.attempt)
				}
				if delay < tt.min || delay > tt.max {
					t.Fatalf("Next(%d) = %s, want within [%s, %s]", tt.attempt, delay, tt.min, tt.max)
				}
				seen[delay] = true
			}
			// Jitter that always picks the same delay spreads nothing. (Up
			// to half the samples may land on the cap.)
			if len(seen) < samples/4 {
				t.Errorf("only %d distinct delays in %d samples", len(seen), samples)
			}
		})
	}
}

func TestRetryPolicyCircuitOpenHint(t *testing.T) {
	t.Parallel()

	clock := loomtest.NewFakeClock(time.Time{})
	breaker, err := loom.NewCircuitBreaker(loom.BreakerConfig{
		Name:             "payments",
		FailureThreshold: 1,
		Cooldown:         30 * time.Second,
		Clock:            clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	breaker.Record(errFlaky)
	clock.Advance(10 * time.Second)

	refused := breaker.Allow()
	if !errors.Is(refused, loom.ErrCircuitOpen) {
		t.Fatalf("Allow() = %v, want ErrCircuitOpen", refused)
	}
	policies := map[string]*loom.RetryPolicy{
		"fixed":  loom.FixedRetry(3, time.Second),
		"capped": loom.ExponentialRetry(3, time.Second, 2, 5*time.Second),
		"jitter": {MaxAttempts: 3, InitialDelay: time.Second, Jitter: 1},
	}
	for name, p := range policies {
		delay, retry := p.Next(1, fmt.Errorf("charge: %w", refused))
		if !retry || delay < 20*time.Second {
			t.Errorf("%s: Next = (%s, %t), want a retry after at least 20s", name, delay, retry)
		}
	}

	// Waiting as long as the policy says is long enough for a probe.
	delay, _ := loom.FixedRetry(3, time.Second).Next(1, refused)
	clock.Advance(delay)
	if err := breaker.Allow(); err != nil {
		t.Errorf("Allow() after the hinted delay = %v, want nil", err)
	}
}

func TestRetryPolicyValidate(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		policy *loom.RetryPolicy
		want   []string // substrings of the error; none means valid
	}{
		{"nil", nil, nil},
		{"zero", &loom.RetryPolicy{}, nil},
		{"fixed", loom.FixedRetry(3, time.Second), nil},
		{"exponential", loom.ExponentialRetry(5, time.Second, 2, time.Minute), nil},
		{"full jitter", &loom.RetryPolicy{MaxAttempts: 2, Jitter: 1}, nil},
		{"negative attempts", &loom.RetryPolicy{MaxAttempts: -1}, []string{"MaxAttempts -1"}},
		{"negative initial", loom.FixedRetry(3, -time.Second), []string{"InitialDelay -1s"}},
		{"negative max", loom.ExponentialRetry(3, time.Second, 2, -time.Second), []string{"MaxDelay -1s"}},
		{"factor below 1", loom.ExponentialRetry(3, time.Second, 0.5, 0), []string{"BackoffFactor 0.5"}},
		{"negative factor", loom.ExponentialRetry(3, time.Second, -2, 0), []string{"BackoffFactor -2"}},
		{"NaN factor", loom.ExponentialRetry(3, time.Second, math.NaN(), 0), []string{"BackoffFactor NaN"}},
		{"infinite factor", loom.ExponentialRetry(3, time.Second, math.Inf(1), 0), []string{"BackoffFactor +Inf"}},
		{"jitter above 1", &loom.RetryPolicy{Jitter: 1.5}, []string{"Jitter 1.5"}},
		{"negative jitter", &loom.RetryPolicy{Jitter: -0.1}, []string{"Jitter -0.1"}},
		{"every problem", &loom.RetryPolicy{MaxAttempts: -1, InitialDelay: -1, MaxDelay: -1, BackoffFactor: 0.1, Jitter: 2},
			[]string{"MaxAttempts", "InitialDelay", "MaxDelay", "BackoffFactor", "Jitter"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.policy.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to mention %q", err, w)
				}
			}
		})
	}
}
