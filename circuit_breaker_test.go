package loom_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/loomtest"
)

// transitionLog records what OnStateChange reports.
type transitionLog struct {
	mu  sync.Mutex
	got []string
}

func (l *transitionLog) record(name string, from, to loom.BreakerState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, fmt.Sprintf("%s: %s -> %s", name, from, to))
}

func (l *transitionLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.got...)
}

// setupBreaker returns a breaker on a fake clock with cfg's settings (Name
// defaults to "dep"), the clock, and the log of its transitions.
func setupBreaker(t *testing.T, cfg loom.BreakerConfig) (*loom.CircuitBreaker, *loomtest.FakeClock, *transitionLog) {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "dep"
	}
	clock := loomtest.NewFakeClock(time.Time{})
	log := &transitionLog{}
	cfg.Clock = clock
	cfg.OnStateChange = log.record
	b, err := loom.NewCircuitBreaker(cfg)
	if err != nil {
		t.Fatalf("NewCircuitBreaker: %v", err)
	}
	return b, clock, log
}

// call makes one call through b that ends with err, failing the test if b
// refuses it.
func call(t *testing.T, b *loom.CircuitBreaker, err error) {
	t.Helper()
	if refused := b.Allow(); refused != nil {
		t.Fatalf("Allow() = %v, want nil", refused)
	}
	b.Record(err)
}

func repeat(err error, n int) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

func failures(n int) []error  { return repeat(errFlaky, n) }
func successes(n int) []error { return repeat(nil, n) }

func concat(lists ...[]error) []error {
	var all []error
	for _, l := range lists {
		all = append(all, l...)
	}
	return all
}

// openRemaining returns how long err, which must be a refusal by breaker
// name, says the breaker stays open.
func openRemaining(t *testing.T, err error, name string) time.Duration {
	t.Helper()
	if !errors.Is(err, loom.ErrCircuitOpen) {
		t.Fatalf("err = %v, want ErrCircuitOpen", err)
	}
	var open *loom.CircuitOpenError
	if !errors.As(err, &open) {
		t.Fatalf("err = %T, want *CircuitOpenError", err)
	}
	if open.Breaker != name {
		t.Errorf("refused by %q, want %q", open.Breaker, name)
	}
	return open.Remaining
}

func TestCircuitBreakerOpening(t *testing.T) {
	t.Parallel()

	type step struct {
		advance time.Duration
		calls   []error // outcomes of calls made after advancing
		want    loom.BreakerState
	}
	tests := []struct {
		name  string
		cfg   loom.BreakerConfig
		steps []step
	}{
		{
			name: "count",
			cfg:  loom.BreakerConfig{FailureThreshold: 3},
			steps: []step{
				{calls: failures(2), want: loom.BreakerClosed},
				{calls: failures(1), want: loom.BreakerOpen},
			},
		},
		{
			name: "default count is 5",
			steps: []step{
				{calls: failures(4), want: loom.BreakerClosed},
				{calls: failures(1), want: loom.BreakerOpen},
			},
		},
		{
			name: "count ignores successes between failures",
			cfg:  loom.BreakerConfig{FailureThreshold: 3},
			steps: []step{
				{calls: concat(failures(2), successes(20)), want: loom.BreakerClosed},
				{calls: failures(1), want: loom.BreakerOpen},
			},
		},
		{
			name: "successes never open",
			cfg:  loom.BreakerConfig{FailureThreshold: 1},
			steps: []step{
				{calls: successes(100), want: loom.BreakerClosed},
			},
		},
		{
			name: "permanent errors and cancellations are not failures",
			cfg:  loom.BreakerConfig{FailureThreshold: 1},
			steps: []step{
				{calls: []error{
					loom.Permanent(errFlaky),
					fmt.Errorf("call: %w", loom.Permanent(errFlaky)),
					context.Canceled,
					fmt.Errorf("call: %w", context.Canceled),
					loom.ErrCancelled,
				}, want: loom.BreakerClosed},
			},
		},
		{
			name: "timeouts are failures",
			cfg:  loom.BreakerConfig{FailureThreshold: 3},
			steps: []step{
				{calls: []error{
					context.DeadlineExceeded,
					loom.ErrTimeout,
					fmt.Errorf("%w: %w", loom.ErrTimeout, context.Canceled),
				}, want: loom.BreakerOpen},
			},
		},
		{
			name: "ratio",
			cfg:  loom.BreakerConfig{FailureRatio: 0.5, MinRequests: 10},
			steps: []step{
				{calls: concat(successes(5), failures(4)), want: loom.BreakerClosed},
				{calls: failures(1), want: loom.BreakerOpen},
			},
		},
		{
			name: "ratio not before min requests",
			cfg:  loom.BreakerConfig{FailureRatio: 0.5, MinRequests: 10},
			steps: []step{
				{calls: failures(9), want: loom.BreakerClosed},
				{calls: failures(1), want: loom.BreakerOpen},
			},
		},
		{
			name: "ratio default min requests is 10",
			cfg:  loom.BreakerConfig{FailureRatio: 1},
			steps: []step{
				{calls: failures(9), want: loom.BreakerClosed},
				{calls: failures(1), want: loom.BreakerOpen},
			},
		},
		{
			name: "ratio below",
			cfg:  loom.BreakerConfig{FailureRatio: 0.5, MinRequests: 4},
			steps: []step{
				{calls: concat(successes(6), failures(5)), want: loom.BreakerClosed},
				{calls: concat(successes(10), failures(5)), want: loom.BreakerClosed},
				{calls: failures(6), want: loom.BreakerOpen},
			},
		},
		{
			name: "ratio without threshold ignores count",
			cfg:  loom.BreakerConfig{FailureRatio: 0.9, MinRequests: 1},
			steps: []step{
				{calls: concat(successes(100), failures(10)), want: loom.BreakerClosed},
			},
		},
		{
			name: "count and ratio, count first",
			cfg:  loom.BreakerConfig{FailureThreshold: 3, FailureRatio: 0.9},
			steps: []step{
				{calls: concat(successes(100), failures(3)), want: loom.BreakerOpen},
			},
		},
		{
			name: "count and ratio, ratio first",
			cfg:  loom.BreakerConfig{FailureThreshold: 30, FailureRatio: 0.5, MinRequests: 4},
			steps: []step{
				{calls: concat(successes(2), failures(2)), want: loom.BreakerOpen},
			},
		},
		{
			name: "window forgets old failures",
			cfg:  loom.BreakerConfig{FailureThreshold: 3, Window: time.Minute},
			steps: []step{
				{calls: failures(2), want: loom.BreakerClosed},
				{advance: time.Minute, calls: failures(2), want: loom.BreakerClosed},
				{advance: 50 * time.Second, calls: failures(1), want: loom.BreakerOpen},
			},
		},
		{
			name: "window remembers recent failures",
			cfg:  loom.BreakerConfig{FailureThreshold: 3, Window: time.Minute},
			steps: []step{
				{calls: failures(2), want: loom.BreakerClosed},
				{advance: 54 * time.Second, calls: failures(1), want: loom.BreakerOpen},
			},
		},
		{
			name: "default window is a minute",
			cfg:  loom.BreakerConfig{FailureThreshold: 2},
			steps: []step{
				{calls: failures(1), want: loom.BreakerClosed},
				{advance: time.Minute, calls: failures(1), want: loom.BreakerClosed},
				{advance: 30 * time.Second, calls: failures(1), want: loom.BreakerOpen},
			},
		},
		{
			name: "ratio window forgets old calls",
			cfg:  loom.BreakerConfig{FailureRatio: 0.5, MinRequests: 4, Window: 10 * time.Second},
			steps: []step{
				{calls: failures(3), want: loom.BreakerClosed},
				{advance: 10 * time.Second, calls: concat(successes(2), failures(1)), want: loom.BreakerClosed},
				{advance: time.Second, calls: failures(1), want: loom.BreakerOpen},
			},
		},
		{
			name: "window much longer than the run",
			cfg:  loom.BreakerConfig{FailureThreshold: 3, Window: 24 * time.Hour},
			steps: []step{
				{calls: failures(1), want: loom.BreakerClosed},
				{advance: 20 * time.Hour, calls: failures(1), want: loom.BreakerClosed},
				{advance: time.Hour, calls: failures(1), want: loom.BreakerOpen},
			},
		},
		{
			name: "tiny window",
			cfg:  loom.BreakerConfig{FailureThreshold: 2, Window: time.Nanosecond},
			steps: []step{
				{calls: failures(1), want: loom.BreakerClosed},
				{advance: time.Millisecond, calls: failures(1), want: loom.BreakerClosed},
				{calls: failures(1), want: loom.BreakerOpen},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, clock, _ := setupBreaker(t, tt.cfg)
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				for _, err := range s.calls {
					call(t, b, err)
				}
				if got := b.State(); got != s.want {
					t.Fatalf("step %d: State() = %s, want %s", i, got, s.want)
				}
			}
		})
	}
}

func TestCircuitBreakerHalfOpen(t *testing.T) {
	t.Parallel()

	const cooldown = 30 * time.Second
	// open returns a breaker that has just opened.
	open := func(t *testing.T, probes int) (*loom.CircuitBreaker, *loomtest.FakeClock) {
		t.Helper()
		b, clock, _ := setupBreaker(t, loom.BreakerConfig{FailureThreshold: 1, Cooldown: cooldown, HalfOpenProbes: probes})
		call(t, b, errFlaky)
		return b, clock
	}

	t.Run("refuses until cooldown passes", func(t *testing.T) {
		t.Parallel()
		b, clock := open(t, 1)
		if got := openRemaining(t, b.Allow(), "dep"); got != cooldown {
			t.Errorf("Remaining = %s, want %s", got, cooldown)
		}
		clock.Advance(cooldown - time.Second)
		if got := b.State(); got != loom.BreakerOpen {
			t.Errorf("State() = %s, want open", got)
		}
		if got := openRemaining(t, b.Allow(), "dep"); got != time.Second {
			t.Errorf("Remaining = %s, want 1s", got)
		}
		clock.Advance(time.Second)
		if got := b.State(); got != loom.BreakerHalfOpen {
			t.Errorf("State() = %s, want half_open", got)
		}
	})

	t.Run("default cooldown is 30s", func(t *testing.T) {
		t.Parallel()
		b, clock, _ := setupBreaker(t, loom.BreakerConfig{FailureThreshold: 1})
		call(t, b, errFlaky)
		if got := openRemaining(t, b.Allow(), "dep"); got != 30*time.Second {
			t.Errorf("Remaining = %s, want 30s", got)
		}
		clock.Advance(30 * time.Second)
		if got := b.State(); got != loom.BreakerHalfOpen {
			t.Errorf("State() = %s, want half_open", got)
		}
	})

	for _, probes := range []int{1, 2, 5} {
		t.Run(fmt.Sprintf("%d probes let through and close", probes), func(t *testing.T) {
			t.Parallel()
			b, clock := open(t, probes)
			clock.Advance(cooldown)
			for i := range probes {
				if err := b.Allow(); err != nil {
					t.Fatalf("probe %d: Allow() = %v, want nil", i+1, err)
				}
			}
			clock.Advance(time.Second)
			if got := openRemaining(t, b.Allow(), "dep"); got != cooldown-time.Second {
				t.Errorf("extra call: Remaining = %s, want %s (until the probes' lease ends)", got, cooldown-time.Second)
			}
			for i := range probes {
				if got := b.State(); got != loom.BreakerHalfOpen {
					t.Fatalf("after %d successes: State() = %s, want half_open", i, got)
				}
				b.Record(nil)
			}
			if got := b.State(); got != loom.BreakerClosed {
				t.Fatalf("after %d successes: State() = %s, want closed", probes, got)
			}
			if err := b.Allow(); err != nil {
				t.Errorf("closed: Allow() = %v, want nil", err)
			}
		})
	}

	t.Run("probe success frees no slot", func(t *testing.T) {
		t.Parallel()
		b, clock := open(t, 2)
		clock.Advance(cooldown)
		call(t, b, nil)
		if err := b.Allow(); err != nil { // the second probe
			t.Fatalf("Allow() = %v, want nil", err)
		}
		openRemaining(t, b.Allow(), "dep") // one success and one out: full
		b.Record(nil)
		if got := b.State(); got != loom.BreakerClosed {
			t.Errorf("State() = %s, want closed", got)
		}
	})

	t.Run("probe failure reopens for a new cooldown", func(t *testing.T) {
		t.Parallel()
		b, clock := open(t, 3)
		clock.Advance(cooldown)
		call(t, b, nil)
		clock.Advance(5 * time.Second)
		call(t, b, errFlaky)
		if got := b.State(); got != loom.BreakerOpen {
			t.Fatalf("State() = %s, want open", got)
		}
		if got := openRemaining(t, b.Allow(), "dep"); got != cooldown {
			t.Errorf("Remaining = %s, want a fresh %s", got, cooldown)
		}
		clock.Advance(cooldown)
		// A new half-open period: all probes available again.
		for range 3 {
			call(t, b, nil)
		}
		if got := b.State(); got != loom.BreakerClosed {
			t.Errorf("State() = %s, want closed", got)
		}
	})

	t.Run("permanent probe error closes", func(t *testing.T) {
		t.Parallel()
		b, clock := open(t, 1)
		clock.Advance(cooldown)
		call(t, b, loom.Permanent(errFlaky))
		if got := b.State(); got != loom.BreakerClosed {
			t.Errorf("State() = %s, want closed", got)
		}
	})

	t.Run("cancelled probe frees its slot without closing", func(t *testing.T) {
		t.Parallel()
		b, clock := open(t, 1)
		clock.Advance(cooldown)
		call(t, b, fmt.Errorf("charge: %w", context.Canceled))
		if got := b.State(); got != loom.BreakerHalfOpen {
			t.Fatalf("State() = %s, want half_open", got)
		}
		call(t, b, nil)
		if got := b.State(); got != loom.BreakerClosed {
			t.Errorf("State() = %s, want closed", got)
		}
	})

	t.Run("lost probe is replaced after its lease", func(t *testing.T) {
		t.Parallel()
		b, clock := open(t, 1)
		clock.Advance(cooldown)
		if err := b.Allow(); err != nil { // never recorded
			t.Fatalf("Allow() = %v, want nil", err)
		}
		clock.Advance(cooldown - time.Nanosecond)
		if got := openRemaining(t, b.Allow(), "dep"); got != time.Nanosecond {
			t.Errorf("Remaining = %s, want 1ns", got)
		}
		clock.Advance(time.Nanosecond)
		call(t, b, nil)
		if got := b.State(); got != loom.BreakerClosed {
			t.Errorf("State() = %s, want closed", got)
		}
	})

	t.Run("outcome of a call from before opening is ignored", func(t *testing.T) {
		t.Parallel()
		b, clock, _ := setupBreaker(t, loom.BreakerConfig{FailureThreshold: 1, Cooldown: cooldown})
		if err := b.Allow(); err != nil { // a slow call, still running
			t.Fatal(err)
		}
		call(t, b, errFlaky) // opens
		b.Record(nil)        // the slow call ends while open
		clock.Advance(cooldown)
		b.Record(errFlaky) // a slower one ends after the cooldown: no probe
		if got := b.State(); got != loom.BreakerHalfOpen {
			t.Fatalf("State() = %s, want half_open", got)
		}
		if err := b.Allow(); err != nil {
			t.Errorf("Allow() = %v, want the probe let through", err)
		}
	})

	t.Run("closing forgets failures from before opening", func(t *testing.T) {
		t.Parallel()
		b, clock, _ := setupBreaker(t, loom.BreakerConfig{FailureThreshold: 3, Window: time.Hour, Cooldown: cooldown})
		for range 3 {
			call(t, b, errFlaky)
		}
		clock.Advance(cooldown)
		call(t, b, nil)
		call(t, b, errFlaky)
		call(t, b, errFlaky)
		if got := b.State(); got != loom.BreakerClosed {
			t.Errorf("State() = %s, want closed", got)
		}
	})
}

func TestCircuitBreakerOnStateChange(t *testing.T) {
	t.Parallel()

	var b *loom.CircuitBreaker
	var mu sync.Mutex
	var got []string
	clock := loomtest.NewFakeClock(time.Time{})
	b = loom.MustCircuitBreaker(loom.BreakerConfig{
		Name:             "mail",
		FailureThreshold: 2,
		Cooldown:         time.Minute,
		Clock:            clock,
		OnStateChange: func(name string, from, to loom.BreakerState) {
			// Reading the breaker from its listener must not deadlock, and
			// sees the state the transition led to.
			now := b.State()
			mu.Lock()
			defer mu.Unlock()
			got = append(got, fmt.Sprintf("%s: %s -> %s (now %s)", name, from, to, now))
		},
	})

	call(t, b, errFlaky)
	call(t, b, errFlaky) // opens
	clock.Advance(time.Minute)
	_ = b.State()        // half-open, reported by State
	call(t, b, errFlaky) // probe fails: open again
	clock.Advance(time.Minute)
	call(t, b, nil) // Allow moves to half-open; success closes
	call(t, b, nil)

	want := []string{
		"mail: closed -> open (now open)",
		"mail: open -> half_open (now half_open)",
		"mail: half_open -> open (now open)",
		"mail: open -> half_open (now half_open)",
		"mail: half_open -> closed (now closed)",
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("transitions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCircuitBreakerPanickingListener(t *testing.T) {
	t.Parallel()

	var got []string
	clock := loomtest.NewFakeClock(time.Time{})
	b := loom.MustCircuitBreaker(loom.BreakerConfig{
		Name:             "dep",
		FailureThreshold: 1,
		Clock:            clock,
		OnStateChange: func(_ string, from, to loom.BreakerState) {
			got = append(got, fmt.Sprintf("%s -> %s", from, to))
			if to == loom.BreakerOpen {
				panic("listener bug")
			}
		},
	})
	func() {
		defer func() {
			if r := recover(); r != "listener bug" {
				t.Fatalf("recovered %v, want the listener's panic", r)
			}
		}()
		call(t, b, errFlaky)
	}()
	// Later transitions are still delivered.
	clock.Advance(30 * time.Second)
	call(t, b, nil)
	want := "closed -> open, open -> half_open, half_open -> closed"
	if strings.Join(got, ", ") != want {
		t.Errorf("transitions: %s, want %s", strings.Join(got, ", "), want)
	}
}

func TestCircuitBreakerKey(t *testing.T) {
	t.Parallel()

	b, clock, log := setupBreaker(t, loom.BreakerConfig{Name: "http", FailureThreshold: 2, Cooldown: 10 * time.Second})
	a, c := b.Key("a.example"), b.Key("c.example")
	if got := b.Key("a.example"); got != a {
		t.Error("Key returned a different breaker for the same key")
	}
	if a.Name() != "http[a.example]" {
		t.Errorf("Name() = %q, want http[a.example]", a.Name())
	}
	if got := a.Key("x").Name(); got != "http[a.example][x]" {
		t.Errorf("nested Name() = %q, want http[a.example][x]", got)
	}

	call(t, a, errFlaky)
	call(t, a, errFlaky)
	call(t, c, errFlaky)
	if got := a.State(); got != loom.BreakerOpen {
		t.Errorf("a: State() = %s, want open", got)
	}
	if got := c.State(); got != loom.BreakerClosed {
		t.Errorf("c: State() = %s, want closed (one failure of its own)", got)
	}
	if got := b.State(); got != loom.BreakerClosed {
		t.Errorf("parent: State() = %s, want closed", got)
	}
	openRemaining(t, a.Allow(), "http[a.example]")
	if err := c.Allow(); err != nil {
		t.Errorf("c: Allow() = %v, want nil", err)
	}
	c.Record(nil)

	// The keyed breaker shares the clock and the listener.
	clock.Advance(10 * time.Second)
	call(t, a, nil)
	want := []string{
		"http[a.example]: closed -> open",
		"http[a.example]: open -> half_open",
		"http[a.example]: half_open -> closed",
	}
	if got := log.list(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("transitions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestNewCircuitBreakerConfig(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		cfg  loom.BreakerConfig
		want []string // substrings of the error; none means valid
	}{
		{"name only", loom.BreakerConfig{Name: "db"}, nil},
		{"ratio only", loom.BreakerConfig{Name: "db", FailureRatio: 0.5}, nil},
		{"ratio 1", loom.BreakerConfig{Name: "db", FailureRatio: 1}, nil},
		{"no name", loom.BreakerConfig{}, []string{"Name is required"}},
		{"blank name", loom.BreakerConfig{Name: "  "}, []string{"Name is required"}},
		{"negative threshold", loom.BreakerConfig{Name: "db", FailureThreshold: -1}, []string{`"db"`, "FailureThreshold -1"}},
		{"ratio above 1", loom.BreakerConfig{Name: "db", FailureRatio: 1.5}, []string{"FailureRatio 1.5"}},
		{"negative ratio", loom.BreakerConfig{Name: "db", FailureRatio: -0.5}, []string{"FailureRatio -0.5"}},
		{"NaN ratio", loom.BreakerConfig{Name: "db", FailureRatio: math.NaN()}, []string{"FailureRatio NaN"}},
		{"negative min requests", loom.BreakerConfig{Name: "db", MinRequests: -1}, []string{"MinRequests -1"}},
		{"negative window", loom.BreakerConfig{Name: "db", Window: -time.Second}, []string{"Window -1s"}},
		{"negative cooldown", loom.BreakerConfig{Name: "db", Cooldown: -time.Second}, []string{"Cooldown -1s"}},
		{"negative probes", loom.BreakerConfig{Name: "db", HalfOpenProbes: -1}, []string{"HalfOpenProbes -1"}},
		{"every problem", loom.BreakerConfig{FailureThreshold: -1, FailureRatio: 2, MinRequests: -1, Window: -1, Cooldown: -1, HalfOpenProbes: -1},
			[]string{"Name", "FailureThreshold", "FailureRatio", "MinRequests", "Window", "Cooldown", "HalfOpenProbes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := loom.NewCircuitBreaker(tt.cfg)
			if len(tt.want) == 0 {
				if err != nil || b == nil {
					t.Fatalf("NewCircuitBreaker() = %v, %v; want a breaker", b, err)
				}
				if got := b.State(); got != loom.BreakerClosed {
					t.Errorf("State() = %s, want closed", got)
				}
				if b.Name() != tt.cfg.Name {
					t.Errorf("Name() = %q, want %q", b.Name(), tt.cfg.Name)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewCircuitBreaker() = nil error, want one mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			defer func() {
				if r := recover(); r == nil {
					t.Error("MustCircuitBreaker did not panic")
				}
			}()
			loom.MustCircuitBreaker(tt.cfg)
		})
	}
}

func TestCircuitBreakerConcurrent(t *testing.T) {
	t.Parallel()

	clock := loomtest.NewFakeClock(time.Time{})
	var (
		b    *loom.CircuitBreaker
		mu   sync.Mutex
		seen = map[string][]loom.BreakerState{} // breaker name -> states passed through
	)
	b = loom.MustCircuitBreaker(loom.BreakerConfig{
		Name:             "shared",
		FailureThreshold: 5,
		Window:           time.Second,
		Cooldown:         100 * time.Millisecond,
		HalfOpenProbes:   2,
		Clock:            clock,
		OnStateChange: func(name string, from, to loom.BreakerState) {
			_ = b.Key("k0").State() // calling back in must not deadlock
			mu.Lock()
			defer mu.Unlock()
			states := seen[name]
			if len(states) == 0 {
				states = []loom.BreakerState{from}
			} else if last := states[len(states)-1]; last != from {
				t.Errorf("%s: transition %s -> %s after reaching %s", name, from, to, last)
			}
			seen[name] = append(states, to)
		},
	})

	const (
		workers = 32
		calls   = 500
	)
	var wg sync.WaitGroup
	used := make([]*loom.CircuitBreaker, workers)
	for w := range workers {
		wg.Go(func() {
			target := b
			if w%2 == 1 {
				target = b.Key(fmt.Sprintf("k%d", w%4))
			}
			used[w] = target
			for i := range calls {
				if i%10 == 0 {
					clock.Advance(time.Millisecond) // cool-downs pass while calls go on
				}
				if target.Allow() != nil {
					continue
				}
				if (i+w)%3 == 0 {
					target.Record(errFlaky)
				} else {
					target.Record(nil)
				}
				_ = target.State()
			}
		})
	}
	wg.Wait()

	for w := 1; w < workers; w += 2 {
		if want := b.Key(fmt.Sprintf("k%d", w%4)); used[w] != want {
			t.Errorf("worker %d had a breaker of its own for key k%d", w, w%4)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for name, states := range seen {
		if states[0] != loom.BreakerClosed {
			t.Errorf("%s: first transition from %s, want closed", name, states[0])
		}
		if len(states) < 3 {
			t.Errorf("%s: only %d transitions: %v", name, len(states)-1, states)
		}
	}
	if len(seen["shared"]) == 0 {
		t.Error("the shared breaker never changed state")
	}
}
