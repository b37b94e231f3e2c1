package loom_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/loomtest"
)

// executorKinds are the executors every behaviour is checked against.
var executorKinds = []struct {
	name string
	new  func(loom.Config) loom.Executor
}{
	{"sync", func(c loom.Config) loom.Executor { return loom.NewSyncExecutor(c) }},
	{"async", func(c loom.Config) loom.Executor { return loom.NewAsyncExecutor(c) }},
	{"parallel", func(c loom.Config) loom.Executor { return loom.NewParallelExecutor(c) }},
}

// eventLog keeps the events an executor emits.
type eventLog struct {
	mu     sync.Mutex
	events []loom.Event
}

func (l *eventLog) add(_ context.Context, e loom.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) all() []loom.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// types lists the event types, "type step" when the event is a step's.
func (l *eventLog) types() []string {
	var out []string
	for _, e := range l.all() {
		s := string(e.Type)
		if e.Step != "" {
			s += " " + e.Step
		}
		out = append(out, s)
	}
	return out
}

func (l *eventLog) count(typ loom.EventType) int {
	n := 0
	for _, e := range l.all() {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// harness is one executor with a fake clock that skips waits, its own
// state and an event log.
type harness struct {
	ex     loom.Executor
	clock  *loomtest.FakeClock
	state  loom.StateManager
	events *eventLog
	manual bool // no AutoAdvance
}

func newHarness(t *testing.T, newEx func(loom.Config) loom.Executor, tweak ...func(*loom.Config)) *harness {
	t.Helper()
	h := &harness{clock: loomtest.NewFakeClock(time.Time{}), state: newState(), events: &eventLog{}}
	em := loom.NewEventEmitter()
	em.On("", h.events.add)
	cfg := loom.Config{Clock: h.clock, State: h.state, Events: em}
	for _, f := range tweak {
		f(&cfg)
	}
	if cfg.Logger == manualMarker {
		h.manual, cfg.Logger = true, nil
	}
	h.ex = newEx(cfg)
	if !h.manual {
		t.Cleanup(h.clock.AutoAdvance(context.Background(), time.Millisecond))
	}
	return h
}

// manualClock leaves the harness's clock to the test to advance.
func manualClock(c *loom.Config) { c.Logger = manualMarker }

var manualMarker = slog.New(slog.DiscardHandler)

func newState() loom.StateManager { return loom.NewMemoryState() }

func handler(fn func(ctx context.Context, in loom.Values) (loom.Values, error)) loom.Handler {
	return loom.HandlerFunc(fn)
}

// failTimes fails the first n calls with err, then returns out.
func failTimes(n int, err error, out loom.Values) loom.Handler {
	var calls atomic.Int32
	return handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		if int(calls.Add(1)) <= n {
			return nil, err
		}
		return out, nil
	})
}

var errBoom = errors.New("boom")

func TestExecutorTaskOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		task         func() *loom.Task
		wantStatus   loom.Status
		wantAttempts int
		wantErr      error  // matched with errors.Is
		wantMsg      string // part of Result.Message
		wantOut      loom.Values
		wantTook     time.Duration // on the fake clock
		wantEvents   []string
	}{
		{
			name:         "completes",
			task:         func() *loom.Task { return loom.NewTask("ok", failTimes(0, nil, loom.Values{"v": 1})) },
			wantStatus:   loom.StatusCompleted,
			wantAttempts: 1,
			wantOut:      loom.Values{"v": 1},
			wantEvents:   []string{"task.started", "task.completed"},
		},
		{
			name:         "fails without retry policy",
			task:         func() *loom.Task { return loom.NewTask("bad", failTimes(9, errBoom, nil)) },
			wantStatus:   loom.StatusFailed,
			wantAttempts: 1,
			wantErr:      errBoom,
			wantMsg:      "boom",
			wantEvents:   []string{"task.started", "task.failed"},
		},
		{
			name: "retries with backoff then completes",
			task: func() *loom.Task {
				return &loom.Task{Name: "flaky", Handler: failTimes(2, errBoom, loom.Values{"v": 2}),
					Retry: &loom.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Second, BackoffFactor: 2}}
			},
			wantStatus:   loom.StatusCompleted,
			wantAttempts: 3,
			wantOut:      loom.Values{"v": 2},
			wantTook:     3 * time.Second,
			wantEvents:   []string{"task.started", "task.retrying", "task.started", "task.retrying", "task.started", "task.completed"},
		},
		{
			name: "gives up after MaxAttempts",
			task: func() *loom.Task {
				return &loom.Task{Name: "down", Handler: failTimes(9, errBoom, nil),
					Retry: &loom.RetryPolicy{MaxAttempts: 2, InitialDelay: time.Second}}
			},
			wantStatus:   loom.StatusFailed,
			wantAttempts: 2,
			wantErr:      errBoom,
			wantTook:     time.Second,
			wantEvents:   []string{"task.started", "task.retrying", "task.started", "task.failed"},
		},
		{
			name: "permanent errors are not retried",
			task: func() *loom.Task {
				return &loom.Task{Name: "rejected", Handler: failTimes(9, loom.Permanent(errBoom), nil),
					Retry: &loom.RetryPolicy{MaxAttempts: 5, InitialDelay: time.Second}}
			},
			wantStatus:   loom.StatusFailed,
			wantAttempts: 1,
			wantErr:      errBoom,
			wantEvents:   []string{"task.started", "task.failed"},
		},
		{
			name: "a panic fails the attempt",
			task: func() *loom.Task {
				return loom.NewTask("panicky", handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
					panic("kaboom")
				}))
			},
			wantStatus:   loom.StatusFailed,
			wantAttempts: 1,
			wantMsg:      "handler panicked: kaboom",
			wantEvents:   []string{"task.started", "task.failed"},
		},
		{
			name: "an attempt past its timeout fails with ErrTimeout",
			task: func() *loom.Task {
				return &loom.Task{Name: "slow", Timeout: 5 * time.Second, Handler: handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
					<-ctx.Done()
					return nil, ctx.Err()
				})}
			},
			wantStatus:   loom.StatusFailed,
			wantAttempts: 1,
			wantErr:      loom.ErrTimeout,
			wantMsg:      "timed out after 5s",
			wantTook:     5 * time.Second,
			wantEvents:   []string{"task.started", "task.failed"},
		},
		{
			name: "a timed-out attempt is retried",
			task: func() *loom.Task {
				return &loom.Task{Name: "slow-once", Timeout: time.Second,
					Retry: &loom.RetryPolicy{MaxAttempts: 2, InitialDelay: time.Second},
					Handler: func() loom.Handler {
						var calls atomic.Int32
						return handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
							if calls.Add(1) == 1 {
								<-ctx.Done()
								return nil, ctx.Err()
							}
							return loom.Values{"v": 3}, nil
						})
					}()}
			},
			wantStatus:   loom.StatusCompleted,
			wantAttempts: 2,
			wantOut:      loom.Values{"v": 3},
			wantTook:     2 * time.Second,
			wantEvents:   []string{"task.started", "task.retrying", "task.started", "task.completed"},
		},
	}
	for _, kind := range executorKinds {
		for _, tt := range tests {
			t.Run(kind.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, kind.new)
				var log bytes.Buffer
				ctx := loom.ContextWithLogWriter(context.Background(), &syncWriter{w: &log})
				task := tt.task()
				res, err := h.ex.Execute(ctx, task, loom.Values{"in": 1}, loom.WithRunID("run-1"))
				if res == nil {
					t.Fatalf("Execute returned no Result (err %v)", err)
				}
				if res.Status != tt.wantStatus || res.Attempts != tt.wantAttempts {
					t.Errorf("Result = %s after %d attempts, want %s after %d (err %v)", res.Status, res.Attempts, tt.wantStatus, tt.wantAttempts, res.Err)
				}
				if res.RunID != "run-1" || res.Name != task.Name {
					t.Errorf("Result RunID, Name = %q, %q", res.RunID, res.Name)
				}
				if tt.wantStatus == loom.StatusCompleted {
					if err != nil {
						t.Errorf("Execute error = %v, want nil", err)
					}
					if !valuesEqual(res.Output, tt.wantOut) {
						t.Errorf("Output = %v, want %v", res.Output, tt.wantOut)
					}
				} else {
					var runErr *loom.RunError
					if !errors.As(err, &runErr) || runErr.Result != res {
						t.Errorf("Execute error = %v, want a *RunError with the Result", err)
					}
					if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
						t.Errorf("errors.Is(%v, %v) = false", err, tt.wantErr)
					}
					if !strings.Contains(res.Message, tt.wantMsg) {
						t.Errorf("Message = %q, want it to contain %q", res.Message, tt.wantMsg)
					}
				}
				if got := res.Duration(); got != tt.wantTook {
					t.Errorf("Duration = %s, want %s", got, tt.wantTook)
				}
				if got := h.events.types(); !slices.Equal(got, tt.wantEvents) {
					t.Errorf("events = %v\nwant       %v", got, tt.wantEvents)
				}
				st, err := h.state.LoadRun(context.Background(), "run-1")
				if err != nil {
					t.Fatalf("LoadRun: %v", err)
				}
				if st.Status != tt.wantStatus || st.Attempts != tt.wantAttempts || st.Task != task.Name || !st.Ended.Equal(res.Ended) {
					t.Errorf("saved run = %+v, want status %s, %d attempts, ended %s", st, tt.wantStatus, tt.wantAttempts, res.Ended)
				}
				if strings.Contains(tt.name, "panic") && !strings.Contains(log.String(), "goroutine") {
					t.Errorf("attempt log = %q, want the panic's stack", log.String())
				}
			})
		}
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestExecutorInvalidTask(t *testing.T) {
	t.Parallel()
	for _, kind := range executorKinds {
		for _, task := range []*loom.Task{nil, {Name: "x"}, {Handler: failTimes(0, nil, nil)}} {
			ex := kind.new(loom.Config{State: newState()})
			res, err := ex.Execute(context.Background(), task, nil)
			if res != nil || err == nil {
				t.Errorf("%s: Execute(%+v) = %v, %v; want no Result and an error", kind.name, task, res, err)
			}
			if _, err := ex.Start(context.Background(), task, nil); err == nil {
				t.Errorf("%s: Start(%+v) succeeded", kind.name, task)
			}
		}
	}
}

func TestExecutorAttemptInfo(t *testing.T) {
	t.Parallel()
	for _, kind := range executorKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, kind.new)
			var seen []loom.AttemptInfo
			var mu sync.Mutex
			task := &loom.Task{Name: "a", Retry: &loom.RetryPolicy{MaxAttempts: 2},
				Handler: handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
					a, _ := loom.Attempt(ctx)
					mu.Lock()
					defer mu.Unlock()
					seen = append(seen, a)
					if len(seen) == 1 {
						return nil, errBoom
					}
					return nil, nil
				})}
			if _, err := h.ex.Execute(context.Background(), task, nil, loom.WithRunID("r")); err != nil {
				t.Fatal(err)
			}
			want := []loom.AttemptInfo{{RunID: "r", Attempt: 1, MaxAttempts: 2}, {RunID: "r", Attempt: 2, MaxAttempts: 2}}
			if !slices.Equal(seen, want) {
				t.Errorf("attempts seen = %+v, want %+v", seen, want)
			}
		})
	}
}

func TestExecutorRunIDs(t *testing.T) {
	t.Parallel()
	ex := loom.NewSyncExecutor(loom.Config{State: newState()})
	task := loom.NewTask("t", failTimes(0, nil, nil))
	a, _ := ex.Execute(context.Background(), task, nil)
	b, _ := ex.Execute(context.Background(), task, nil)
	if len(a.RunID) != 36 || a.RunID[14] != '7' || a.RunID >= b.RunID {
		t.Errorf("run ids %q, %q: want UUIDv7s in increasing order", a.RunID, b.RunID)
	}
}

func TestExecutorCancellation(t *testing.T) {
	t.Parallel()
	for _, kind := range executorKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, kind.new)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			started := make(chan struct{})
			block := loom.NewTask("block", handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
				close(started)
				<-ctx.Done()
				return nil, ctx.Err()
			}))
			flow, _ := mustFlow(t, "f", loom.FlowDef{Steps: []loom.Step{
				{Task: echoTask("first")},
				{Task: block, DependsOn: []string{"first"}},
				{Task: echoTask("last"), DependsOn: []string{"block"}},
			}})
			go func() { <-started; cancel() }()
			res, err := h.ex.Execute(ctx, flow, nil, loom.WithRunID("run"))
			if res == nil || res.Status != loom.StatusCancelled {
				t.Fatalf("Execute = %+v, %v; want a cancelled Result", res, err)
			}
			if !errors.Is(err, loom.ErrCancelled) || !errors.Is(err, context.Canceled) {
				t.Errorf("error %v should match ErrCancelled and context.Canceled", err)
			}
			want := map[string]loom.Status{"first": loom.StatusCompleted, "block": loom.StatusCancelled, "last": loom.StatusCancelled}
			checkSteps(t, h, "run", res, want)
		})
	}
}

// checkSteps compares the flow's step results and saved step states with
// want.
func checkSteps(t *testing.T, h *harness, runID string, res *loom.Result, want map[string]loom.Status) {
	t.Helper()
	got := map[string]loom.Status{}
	for name, r := range res.Steps {
		got[name] = r.Status
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("step results = %v, want %v", got, want)
	}
	st, err := h.state.LoadRun(context.Background(), runID)
	if err != nil {
		t.Fatalf("LoadRun(%s): %v", runID, err)
	}
	saved := map[string]loom.Status{}
	for name, s := range st.Steps {
		saved[name] = s.Status
	}
	if fmt.Sprint(saved) != fmt.Sprint(want) {
		t.Errorf("saved steps = %v, want %v", saved, want)
	}
}

func TestExecutorFlows(t *testing.T) {
	t.Parallel()
	fails := loom.NewTask("fails", failTimes(9, loom.Permanent(errBoom), nil))
	nested, _ := mustFlow(t, "inner", loom.FlowDef{
		Inputs: []string{"x"},
		Steps: []loom.Step{
			{Name: "i1", Task: echoTask("i1"), Requires: map[string]string{"x": "x"}, Provides: map[string]string{"out": "y"}},
			{Name: "i2", Task: echoTask("i2"), Requires: map[string]string{"y": "y"}, Provides: map[string]string{"out": "z"}},
		},
	})
	tests := []struct {
		name       string
		def        loom.FlowDef
		in         loom.Values
		wantStatus loom.Status
		wantOut    loom.Values
		wantSteps  map[string]loom.Status
		wantMsg    string
	}{
		{
			name: "seed wiring",
			def: loom.FlowDef{Inputs: []string{"src"}, Steps: []loom.Step{
				{Name: "ingest", Task: echoTask("ingest"), Provides: map[string]string{"out": "raw"}},
				{Name: "clean", Task: echoTask("clean"), Requires: map[string]string{"data": "raw"}, Provides: map[string]string{"out": "clean"}},
				{Name: "store", Task: echoTask("store"), Requires: map[string]string{"data": "clean"}},
			}},
			in:         loom.Values{"src": "s3://x"},
			wantStatus: loom.StatusCompleted,
			wantOut:    loom.Values{"raw": "ingest", "clean": "clean"},
			wantSteps:  map[string]loom.Status{"ingest": loom.StatusCompleted, "clean": loom.StatusCompleted, "store": loom.StatusCompleted},
		},
		{
			name: "skip by condition cascades through data, not DependsOn",
			def: loom.FlowDef{Inputs: []string{"mode"}, Steps: []loom.Step{
				{Name: "a", Task: echoTask("a"), Provides: map[string]string{"out": "ka"}, If: func(d loom.Values) bool { return d["mode"] == "full" }},
				{Name: "b", Task: echoTask("b"), Requires: map[string]string{"x": "ka"}, Provides: map[string]string{"out": "kb"}},
				{Name: "c", Task: echoTask("c"), DependsOn: []string{"a"}, Provides: map[string]string{"out": "kc"}},
			}},
			in:         loom.Values{"mode": "lite"},
			wantStatus: loom.StatusCompleted,
			wantOut:    loom.Values{"kc": "c"},
			wantSteps:  map[string]loom.Status{"a": loom.StatusSkipped, "b": loom.StatusSkipped, "c": loom.StatusCompleted},
		},
		{
			name: "a failed step cancels what waits for it",
			def: loom.FlowDef{Steps: []loom.Step{
				{Name: "a", Task: echoTask("a")},
				{Name: "f", Task: fails, DependsOn: []string{"a"}},
				{Name: "after", Task: echoTask("after"), DependsOn: []string{"f"}},
			}},
			wantStatus: loom.StatusFailed,
			wantSteps:  map[string]loom.Status{"a": loom.StatusCompleted, "f": loom.StatusFailed, "after": loom.StatusCancelled},
			wantMsg:    `step "f": boom`,
		},
		{
			name: "a step missing an output it provides fails",
			def: loom.FlowDef{Steps: []loom.Step{
				{Name: "a", Task: echoTask("a"), Provides: map[string]string{"missing": "k"}},
			}},
			wantStatus: loom.StatusFailed,
			wantSteps:  map[string]loom.Status{"a": loom.StatusFailed},
			wantMsg:    `output "missing" (provided as "k") is missing`,
		},
		{
			name: "a missing flow input fails the flow",
			def: loom.FlowDef{Inputs: []string{"need"}, Steps: []loom.Step{
				{Name: "a", Task: echoTask("a"), Requires: map[string]string{"x": "need"}},
			}},
			wantStatus: loom.StatusFailed,
			wantSteps:  map[string]loom.Status{},
			wantMsg:    `missing input "need"`,
		},
		{
			name: "nested flow",
			def: loom.FlowDef{Inputs: []string{"v"}, Steps: []loom.Step{
				{Name: "sub", Task: nested, Requires: map[string]string{"x": "v"}, Provides: map[string]string{"z": "result"}},
			}},
			in:         loom.Values{"v": 7},
			wantStatus: loom.StatusCompleted,
			wantOut:    loom.Values{"result": "i2"},
			wantSteps:  map[string]loom.Status{"sub": loom.StatusCompleted},
		},
	}
	for _, kind := range executorKinds {
		for _, tt := range tests {
			t.Run(kind.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, kind.new)
				flow, _ := mustFlow(t, "flow", tt.def)
				res, err := h.ex.Execute(context.Background(), flow, tt.in, loom.WithRunID("run"))
				if res == nil {
					t.Fatalf("Execute: no Result, %v", err)
				}
				if res.Status != tt.wantStatus {
					t.Errorf("Status = %s, want %s (err %v)", res.Status, tt.wantStatus, err)
				}
				if tt.wantOut != nil && !valuesEqual(res.Output, tt.wantOut) {
					t.Errorf("Output = %v, want %v", res.Output, tt.wantOut)
				}
				if !strings.Contains(res.Message, tt.wantMsg) {
					t.Errorf("Message = %q, want it to contain %q", res.Message, tt.wantMsg)
				}
				if tt.wantStatus == loom.StatusCompleted && err != nil {
					t.Errorf("Execute error = %v", err)
				}
				checkSteps(t, h, "run", res, tt.wantSteps)
			})
		}
	}
}

func TestExecutorNestedFlowState(t *testing.T) {
	t.Parallel()
	inner, _ := mustFlow(t, "inner", loom.FlowDef{Steps: []loom.Step{{Name: "leaf", Task: echoTask("leaf")}}})
	outer, _ := mustFlow(t, "outer", loom.FlowDef{Steps: []loom.Step{{Name: "sub", Task: inner}}})
	for _, kind := range executorKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, kind.new)
			res, err := h.ex.Execute(context.Background(), outer, nil, loom.WithRunID("top"))
			if err != nil {
				t.Fatal(err)
			}
			sub := res.Steps["sub"]
			if sub == nil || sub.RunID != "top/sub" || sub.Steps["leaf"].Status != loom.StatusCompleted {
				t.Fatalf("nested result = %+v", sub)
			}
			st, err := h.state.LoadRun(context.Background(), "top/sub")
			if err != nil {
				t.Fatal(err)
			}
			if st.ParentRunID != "top" || st.Status != loom.StatusCompleted || st.Steps["leaf"].Status != loom.StatusCompleted {
				t.Errorf("nested run state = %+v", st)
			}
			e := h.events.all()
			if e[0].Type != loom.EventFlowStarted || e[len(e)-1].Type != loom.EventFlowCompleted {
				t.Errorf("events = %v, want flow.started first and flow.completed last", h.events.types())
			}
		})
	}
}

func TestExecutorFlowEvents(t *testing.T) {
	t.Parallel()
	flaky := &loom.Task{Name: "flaky", Handler: failTimes(1, errBoom, loom.Values{}), Retry: &loom.RetryPolicy{MaxAttempts: 2}}
	flow, _ := mustFlow(t, "f", loom.FlowDef{Steps: []loom.Step{
		{Name: "a", Task: flaky},
		{Name: "b", Task: echoTask("b"), DependsOn: []string{"a"}, If: func(loom.Values) bool { return false }},
	}})
	h := newHarness(t, executorKinds[0].new)
	if _, err := h.ex.Execute(context.Background(), flow, nil, loom.WithRunID("r")); err != nil {
		t.Fatal(err)
	}
	want := []string{"flow.started", "task.started a", "task.retrying a", "task.started a", "task.completed a", "task.skipped b", "flow.completed"}
	if got := h.events.types(); !slices.Equal(got, want) {
		t.Errorf("events = %v\nwant       %v", got, want)
	}
	for _, e := range h.events.all() {
		if e.Step != "" && (e.FlowRunID != "r" || e.RunID != "r/"+e.Step) {
			t.Errorf("step event %+v: want FlowRunID r and RunID r/<step>", e)
		}
	}
}

func TestExecutorFlowTimeout(t *testing.T) {
	t.Parallel()
	for _, kind := range executorKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, kind.new, manualClock)
			waiting := make(chan struct{})
			wait := loom.NewTask("wait", handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
				close(waiting)
				<-ctx.Done()
				return nil, ctx.Err()
			}))
			flow, _ := mustFlow(t, "f", loom.FlowDef{Steps: []loom.Step{
				{Name: "a", Task: echoTask("a")},
				{Name: "w", Task: wait, DependsOn: []string{"a"}},
				{Name: "z", Task: echoTask("z"), DependsOn: []string{"w"}},
			}})
			flow.Timeout = time.Minute
			go func() {
				<-waiting
				h.clock.Advance(time.Minute)
			}()
			res, err := h.ex.Execute(context.Background(), flow, nil, loom.WithRunID("r"))
			if res == nil || res.Status != loom.StatusFailed || !errors.Is(err, loom.ErrTimeout) {
				t.Fatalf("Execute = %+v, %v; want failed with ErrTimeout", res, err)
			}
			if res.Duration() != time.Minute {
				t.Errorf("Duration = %s, want 1m", res.Duration())
			}
			checkSteps(t, h, "r", res, map[string]loom.Status{"a": loom.StatusCompleted, "w": loom.StatusCancelled, "z": loom.StatusCancelled})
		})
	}
}

func TestExecutorCompensation(t *testing.T) {
	t.Parallel()
	for _, kind := range executorKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, kind.new)
			var mu sync.Mutex
			var undone []string
			undo := func(name string, fail bool) *loom.Task {
				return loom.NewTask("undo-"+name, handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
					mu.Lock()
					undone = append(undone, fmt.Sprintf("%s(in=%v,out=%v)", name, in["in"], in["out"]))
					mu.Unlock()
					if fail {
						return nil, errBoom
					}
					return nil, nil
				}))
			}
			flow, _ := mustFlow(t, "saga", loom.FlowDef{Inputs: []string{"in"}, Steps: []loom.Step{
				{Name: "a", Task: echoTask("a"), Compensate: undo("a", false)},
				{Name: "b", Task: echoTask("b"), Compensate: undo("b", true), DependsOn: []string{"a"}},
				{Name: "c", Task: echoTask("c"), DependsOn: []string{"b"}},
				{Name: "d", Task: loom.NewTask("d", failTimes(9, errBoom, nil)), Compensate: undo("d", false), DependsOn: []string{"c"}},
			}})
			res, err := h.ex.Execute(context.Background(), flow, loom.Values{"in": 1}, loom.WithRunID("r"))
			if res == nil || res.Status != loom.StatusFailed || !errors.Is(err, errBoom) {
				t.Fatalf("Execute = %+v, %v; want failed", res, err)
			}
			if want := []string{"b(in=1,out=b)", "a(in=1,out=a)"}; !slices.Equal(undone, want) {
				t.Errorf("compensations = %v, want %v (reverse order, the failing one not stopping the next)", undone, want)
			}
			want := map[string]loom.Status{
				"a": loom.StatusCompleted, "b": loom.StatusCompleted, "c": loom.StatusCompleted, "d": loom.StatusFailed,
				"a.compensate": loom.StatusCompleted, "b.compensate": loom.StatusFailed,
			}
			checkSteps(t, h, "r", res, want)
			var comp []loom.Event
			for _, e := range h.events.all() {
				if e.Type == loom.EventCompensated {
					comp = append(comp, e)
				}
			}
			if len(comp) != 1 || !strings.Contains(comp[0].Error, `compensating step "b": boom`) {
				t.Errorf("flow.compensated events = %+v, want one reporting b's failure", comp)
			}
			if got := h.events.all(); got[len(got)-1].Type != loom.EventFlowFailed {
				t.Errorf("last event = %v, want flow.failed", got[len(got)-1].Type)
			}
		})
	}
}

func TestExecutorFanOut(t *testing.T) {
	t.Parallel()
	double := loom.NewTask("double", handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		n := in["n"].(int)
		if n < 0 {
			return nil, loom.Permanent(fmt.Errorf("negative %d", n))
		}
		return loom.Values{"v": n * in["factor"].(int)}, nil
	}))
	tests := []struct {
		name       string
		list       []int
		onFailure  loom.PartialFailure
		wantStatus loom.Status
		wantOut    string
		wantMsg    string
	}{
		{name: "all complete", list: []int{1, 2, 3}, wantStatus: loom.StatusCompleted,
			wantOut: "[map[v:2] map[v:4] map[v:6]] [  ] 0"},
		{name: "empty list", list: []int{}, wantStatus: loom.StatusCompleted, wantOut: "[] [] 0"},
		{name: "fail fast", list: []int{1, -2, 3}, wantStatus: loom.StatusFailed, wantMsg: "item 1: negative -2"},
		{name: "collect and continue", list: []int{1, -2, 3, -4}, onFailure: loom.CollectAndContinue, wantStatus: loom.StatusCompleted,
			wantOut: "[map[v:2] <nil> map[v:6] <nil>] [ negative -2  negative -4] 2"},
	}
	for _, kind := range executorKinds {
		for _, tt := range tests {
			t.Run(kind.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, kind.new, func(c *loom.Config) { c.Parallelism = 3 })
				flow, _ := mustFlow(t, "fan", loom.FlowDef{Inputs: []string{"list", "factor"}, Steps: []loom.Step{
					{Name: "map", Task: double, Requires: map[string]string{"ns": "list", "factor": "factor"},
						FanOut:   &loom.FanOut{Over: "ns", As: "n", Parallelism: 2, OnFailure: tt.onFailure},
						Provides: map[string]string{"results": "results", "errors": "errors", "failed": "failed"}},
				}})
				res, err := h.ex.Execute(context.Background(), flow, loom.Values{"list": tt.list, "factor": 2}, loom.WithRunID("r"))
				if res == nil || res.Status != tt.wantStatus {
					t.Fatalf("Execute = %+v, %v; want %s", res, err, tt.wantStatus)
				}
				if tt.wantOut != "" {
					got := fmt.Sprint(res.Output["results"], " ", res.Output["errors"], " ", res.Output["failed"])
					if got != tt.wantOut {
						t.Errorf("output = %s, want %s", got, tt.wantOut)
					}
				}
				if !strings.Contains(res.Message, tt.wantMsg) {
					t.Errorf("Message = %q, want %q", res.Message, tt.wantMsg)
				}
				if n := h.events.count(loom.EventTaskStarted); n < 1+len(tt.list) && tt.wantStatus == loom.StatusCompleted {
					t.Errorf("%d task.started events, want one for the step and one per item", n)
				}
			})
		}
	}
}

// Each fan-out item has a run id and a step name of its own, the step's
// followed by "[index]", in what its handler reads with Attempt and in
// its events, whether or not anyone listens.
func TestExecutorFanOutItemNames(t *testing.T) {
	t.Parallel()
	for _, kind := range executorKinds {
		for _, listen := range []bool{true, false} {
			t.Run(fmt.Sprint(kind.name, "/listen=", listen), func(t *testing.T) {
				t.Parallel()
				var mu sync.Mutex
				var ids []string
				item := loom.NewTask("item", handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
					a, ok := loom.Attempt(ctx)
					if !ok || a.Attempt != 1 || a.MaxAttempts != 1 {
						t.Errorf("Attempt = %+v, %v; want attempt 1 of 1", a, ok)
					}
					mu.Lock()
					defer mu.Unlock()
					ids = append(ids, fmt.Sprint(in["i"], "=", a.RunID))
					return nil, nil
				}))
				flow, _ := mustFlow(t, "fan", loom.FlowDef{Inputs: []string{"l"}, Steps: []loom.Step{
					{Name: "each", Task: item, FanOut: &loom.FanOut{Over: "l", As: "i"}},
				}})
				var ex loom.Executor
				var events *eventLog
				if listen {
					h := newHarness(t, kind.new)
					ex, events = h.ex, h.events
				} else {
					ex = kind.new(loom.Config{Parallelism: 2})
				}
				if _, err := ex.Execute(context.Background(), flow, loom.Values{"l": []int{0, 1, 2}}, loom.WithRunID("r")); err != nil {
					t.Fatal(err)
				}
				slices.Sort(ids)
				if want := []string{"0=r/each[0]", "1=r/each[1]", "2=r/each[2]"}; !slices.Equal(ids, want) {
					t.Errorf("items saw run ids %v, want %v", ids, want)
				}
				if events == nil {
					return
				}
				var got []string
				for _, e := range events.all() {
					if e.Type == loom.EventTaskCompleted && strings.HasPrefix(e.Step, "each[") {
						got = append(got, e.RunID+" "+e.Step+" "+e.FlowRunID)
					}
				}
				slices.Sort(got)
				if want := []string{"r/each[0] each[0] r", "r/each[1] each[1] r", "r/each[2] each[2] r"}; !slices.Equal(got, want) {
					t.Errorf("item completion events %v, want %v", got, want)
				}
			})
		}
	}
}

// A fan-out never runs more items at once than its Parallelism.
func TestExecutorFanOutBounded(t *testing.T) {
	t.Parallel()
	var now, peak atomic.Int32
	item := loom.NewTask("item", handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		n := now.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		now.Add(-1)
		return nil, nil
	}))
	flow, _ := mustFlow(t, "fan", loom.FlowDef{Inputs: []string{"l"}, Steps: []loom.Step{
		{Task: item, FanOut: &loom.FanOut{Over: "l", Parallelism: 3}},
	}})
	ex := loom.NewParallelExecutor(loom.Config{State: newState(), Parallelism: 8})
	if _, err := ex.Execute(context.Background(), flow, loom.Values{"l": make([]int, 30)}); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p > 3 || p < 2 {
		t.Errorf("peak concurrency = %d, want 2..3", p)
	}
}

// The parallel executor starts independent branches together and never
// runs more than Parallelism handlers at once.
func TestParallelExecutorConcurrency(t *testing.T) {
	t.Parallel()
	const width, par = 12, 4
	var now, peak atomic.Int32
	gate := make(chan struct{})
	var open sync.Once
	work := loom.NewTask("work", handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		n := now.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if n == par {
			open.Do(func() { close(gate) }) // all slots busy at once: branches do run together
		}
		select {
		case <-gate:
		case <-time.After(5 * time.Second):
		}
		now.Add(-1)
		return nil, nil
	}))
	steps := []loom.Step{{Name: "root", Task: echoTask("root")}}
	for i := range width {
		steps = append(steps, loom.Step{Name: fmt.Sprint("w", i), Task: work, DependsOn: []string{"root"}})
	}
	flow, _ := mustFlow(t, "wide", loom.FlowDef{Steps: steps})
	ex := loom.NewParallelExecutor(loom.Config{State: newState(), Parallelism: par})
	start := time.Now()
	if _, err := ex.Execute(context.Background(), flow, nil); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p != par {
		t.Errorf("peak concurrency = %d, want %d", p, par)
	}
	if time.Since(start) > 4*time.Second {
		t.Error("branches did not run concurrently")
	}
}

func TestAsyncExecutorStart(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	task := loom.NewTask("wait", handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		<-release
		return loom.Values{"ok": true}, nil
	}))
	for _, kind := range executorKinds[1:] {
		ex := kind.new(loom.Config{State: newState()})
		h, err := ex.Start(context.Background(), task, nil, loom.WithRunID("x"))
		if err != nil {
			t.Fatal(err)
		}
		if h.RunID() != "x" {
			t.Errorf("RunID = %q", h.RunID())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		if res, err := h.Wait(ctx); res != nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: Wait before the end = %v, %v; want the context's error", kind.name, res, err)
		}
		cancel()
		release <- struct{}{}
		res, err := h.Wait(context.Background())
		if err != nil || !res.Completed() {
			t.Errorf("%s: Wait = %+v, %v", kind.name, res, err)
		}
		<-h.Done()
	}
	// SyncExecutor.Start returns once the run has ended.
	h, err := loom.NewSyncExecutor(loom.Config{State: newState()}).Start(context.Background(), loom.NewTask("now", failTimes(0, nil, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.Done():
	default:
		t.Error("SyncExecutor.Start returned before the run ended")
	}
}

func TestExecutorBreaker(t *testing.T) {
	t.Parallel()
	for _, kind := range executorKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, kind.new)
			b, err := loom.NewCircuitBreaker(loom.BreakerConfig{Name: "api", FailureThreshold: 2, Cooldown: 10 * time.Second, Clock: h.clock})
			if err != nil {
				t.Fatal(err)
			}
			var calls atomic.Int32
			task := &loom.Task{
				Name: "call", Breaker: b,
				BreakerKey: func(in loom.Values) string { return in["host"].(string) },
				Retry:      &loom.RetryPolicy{MaxAttempts: 4, InitialDelay: time.Second},
				Handler: handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
					if calls.Add(1) <= 2 {
						return nil, errBoom
					}
					return loom.Values{}, nil
				}),
			}
			// Two failures open the breaker; the third attempt is refused
			// and waits out the cool-down; the half-open probe succeeds.
			res, err := h.ex.Execute(context.Background(), task, loom.Values{"host": "a"})
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			if res.Attempts != 4 || calls.Load() != 3 {
				t.Errorf("attempts = %d, handler calls = %d; want 4 and 3", res.Attempts, calls.Load())
			}
			if res.Duration() < 10*time.Second {
				t.Errorf("Duration = %s, want the cool-down waited out", res.Duration())
			}
			var breakerEvents []string
			for _, e := range h.events.all() {
				if strings.HasPrefix(string(e.Type), "breaker.") {
					breakerEvents = append(breakerEvents, string(e.Type)+" "+e.Breaker)
				}
			}
			want := []string{"breaker.opened api[a]", "breaker.half_open api[a]", "breaker.closed api[a]"}
			if !slices.Equal(breakerEvents, want) {
				t.Errorf("breaker events = %v, want %v", breakerEvents, want)
			}
			if b.Key("b").State() != loom.BreakerClosed {
				t.Error("another key's breaker was affected")
			}
		})
	}
}

func TestExecutorIdempotency(t *testing.T) {
	t.Parallel()
	for _, kind := range executorKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, kind.new)
			var calls atomic.Int32
			task := &loom.Task{Name: "charge", Idempotency: &loom.Idempotency{Window: time.Hour},
				Handler: handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
					return loom.Values{"n": int(calls.Add(1))}, nil
				})}
			ctx := context.Background()
			first, err := h.ex.Execute(ctx, task, loom.Values{"amount": 10})
			if err != nil || first.Replayed {
				t.Fatalf("first run = %+v, %v", first, err)
			}
			again, err := h.ex.Execute(ctx, task, loom.Values{"amount": 10})
			if err != nil || !again.Replayed || again.Output["n"] != 1 || again.RunID != first.RunID {
				t.Errorf("same inputs = %+v, %v; want the first run's result replayed", again, err)
			}
			other, _ := h.ex.Execute(ctx, task, loom.Values{"amount": 11})
			if other.Replayed || other.Output["n"] != 2 {
				t.Errorf("other inputs = %+v; want a new run", other)
			}
			h.clock.Advance(2 * time.Hour)
			late, _ := h.ex.Execute(ctx, task, loom.Values{"amount": 10})
			if late.Replayed || late.Output["n"] != 3 {
				t.Errorf("after the window = %+v; want a new run", late)
			}
			if n := h.events.count(loom.EventTaskReplayed); n != 1 {
				t.Errorf("%d task.replayed events, want 1", n)
			}

			// An explicit key works without Idempotency on the task.
			plain := loom.NewTask("plain", handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
				return loom.Values{"n": int(calls.Add(1))}, nil
			}))
			a, _ := h.ex.Execute(ctx, plain, nil, loom.WithIdempotencyKey("k1"))
			b, _ := h.ex.Execute(ctx, plain, loom.Values{"different": true}, loom.WithIdempotencyKey("k1"))
			if !b.Replayed || b.Output["n"] != a.Output["n"] {
				t.Errorf("explicit key: second = %+v, want a replay of %+v", b, a)
			}
		})
	}
}

func TestExecutorIdempotencyFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		policy     loom.FailureKeyPolicy
		wantCalls  int32
		wantReplay bool
	}{
		{"release on failure runs again", loom.ReleaseOnFailure, 2, false},
		{"keep on failure replays the failure", loom.KeepOnFailure, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, executorKinds[0].new)
			var calls atomic.Int32
			task := &loom.Task{Name: "t", Idempotency: &loom.Idempotency{OnFailure: tt.policy},
				Handler: handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
					calls.Add(1)
					return nil, errBoom
				})}
			h.ex.Execute(context.Background(), task, nil)
			res, err := h.ex.Execute(context.Background(), task, nil)
			if calls.Load() != tt.wantCalls || res.Replayed != tt.wantReplay || res.Status != loom.StatusFailed {
				t.Errorf("calls = %d, second = %+v; want %d calls, replayed %v", calls.Load(), res, tt.wantCalls, tt.wantReplay)
			}
			var runErr *loom.RunError
			if !errors.As(err, &runErr) {
				t.Errorf("error = %v, want a *RunError", err)
			}
		})
	}
}

// A duplicate started while the first run is in flight waits for it and
// returns its result.
func TestExecutorIdempotencyInFlight(t *testing.T) {
	t.Parallel()
	ex := loom.NewAsyncExecutor(loom.Config{State: newState()})
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	var calls atomic.Int32
	task := &loom.Task{Name: "slow", Idempotency: &loom.Idempotency{},
		Handler: handler(func(ctx context.Context, in loom.Values) (loom.Values, error) {
			entered <- struct{}{}
			<-release
			return loom.Values{"n": int(calls.Add(1))}, nil
		})}
	ctx := context.Background()
	h1, _ := ex.Start(ctx, task, nil)
	<-entered
	h2, _ := ex.Start(ctx, task, nil)
	time.Sleep(20 * time.Millisecond) // let the duplicate find the key held
	close(release)
	r1, err1 := h1.Wait(ctx)
	r2, err2 := h2.Wait(ctx)
	if err1 != nil || err2 != nil || calls.Load() != 1 || !r2.Replayed || r2.RunID != r1.RunID {
		t.Errorf("runs = %+v (%v), %+v (%v); calls %d; want one call and a replay", r1, err1, r2, err2, calls.Load())
	}
}

func TestTaskRun(t *testing.T) {
	t.Parallel()
	res, err := loom.NewTask("t", failTimes(0, nil, loom.Values{"x": 1})).Run(context.Background(), nil)
	if err != nil || !res.Completed() || res.Output["x"] != 1 || res.Started.IsZero() || res.Ended.Before(res.Started) {
		t.Errorf("Run = %+v, %v", res, err)
	}
	flow, f := mustFlow(t, "f", loom.FlowDef{Steps: []loom.Step{{Task: echoTask("a"), Provides: map[string]string{"out": "k"}}}})
	out, err := f.Handle(context.Background(), nil)
	if err != nil || out["k"] != "a" {
		t.Errorf("Flow.Handle = %v, %v", out, err)
	}
	res, err = flow.Run(context.Background(), nil)
	if err != nil || res.Output["k"] != "a" || res.Steps["a"].Status != loom.StatusCompleted {
		t.Errorf("flow Run = %+v, %v", res, err)
	}
}
