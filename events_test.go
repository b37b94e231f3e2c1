package loom_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/loomhq/loom"
)

// collect returns a listener that appends tag to *got.
func collect(mu *sync.Mutex, got *[]string, tag string) loom.Listener {
	return func(_ context.Context, e loom.Event) {
		mu.Lock()
		defer mu.Unlock()
		*got = append(*got, tag+":"+string(e.Type))
	}
}

func TestEventEmitterDelivery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	started := loom.Event{Type: loom.EventTaskStarted}
	failed := loom.Event{Type: loom.EventTaskFailed}

	tests := []struct {
		name string
		// setup adds listeners, naming each by a tag, and may remove some.
		setup func(em *loom.EventEmitter, l func(tag string) loom.Listener)
		emit  []loom.Event
		want  []string
	}{
		{
			name: "in the order added, typed and untyped interleaved",
			setup: func(em *loom.EventEmitter, l func(string) loom.Listener) {
				em.On(loom.EventTaskStarted, l("a"))
				em.On("", l("b"))
				em.On(loom.EventTaskStarted, l("c"))
			},
			emit: []loom.Event{started},
			want: []string{"a:task.started", "b:task.started", "c:task.started"},
		},
		{
			name: "type filter",
			setup: func(em *loom.EventEmitter, l func(string) loom.Listener) {
				em.On(loom.EventTaskStarted, l("s"))
				em.On(loom.EventTaskFailed, l("f"))
				em.On("", l("all"))
			},
			emit: []loom.Event{started, failed},
			want: []string{"s:task.started", "all:task.started", "f:task.failed", "all:task.failed"},
		},
		{
			name: "off removes exactly its listener",
			setup: func(em *loom.EventEmitter, l func(string) loom.Listener) {
				em.On("", l("a"))
				off := em.On("", l("b"))
				em.On("", l("c"))
				off()
				off() // harmless
			},
			emit: []loom.Event{started},
			want: []string{"a:task.started", "c:task.started"},
		},
		{
			name: "the same func added twice is two listeners, removed one at a time",
			setup: func(em *loom.EventEmitter, l func(string) loom.Listener) {
				same := l("x")
				off1 := em.On("", same)
				em.On("", same)
				off1()
			},
			emit: []loom.Event{started},
			want: []string{"x:task.started"},
		},
		{
			name: "a listener added after off goes last",
			setup: func(em *loom.EventEmitter, l func(string) loom.Listener) {
				off := em.On("", l("a"))
				em.On("", l("b"))
				off()
				em.On("", l("a"))
			},
			emit: []loom.Event{started},
			want: []string{"b:task.started", "a:task.started"},
		},
		{
			name: "nil listener is ignored",
			setup: func(em *loom.EventEmitter, l func(string) loom.Listener) {
				em.On("", nil)()
				em.On("", l("a"))
			},
			emit: []loom.Event{started},
			want: []string{"a:task.started"},
		},
		{
			name:  "no listeners",
			setup: func(*loom.EventEmitter, func(string) loom.Listener) {},
			emit:  []loom.Event{started},
			want:  nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var (
				mu  sync.Mutex
				got []string
			)
			em := loom.NewEventEmitter()
			tt.setup(em, func(tag string) loom.Listener { return collect(&mu, &got, tag) })
			for _, e := range tt.emit {
				em.Emit(ctx, e)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("delivered %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEventEmitterPassesContextAndEvent(t *testing.T) {
	t.Parallel()
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	em := loom.NewEventEmitter()
	want := loom.Event{Type: loom.EventTaskCompleted, RunID: "r1", Task: "t", Output: loom.Values{"x": 1}}
	var got loom.Event
	var gotVal any
	em.On("", func(ctx context.Context, e loom.Event) { got, gotVal = e, ctx.Value(key{}) })
	em.Emit(ctx, want)
	if !reflect.DeepEqual(got, want) || gotVal != "v" {
		t.Errorf("listener got %+v with ctx value %v", got, gotVal)
	}
}

func TestEventEmitterNil(t *testing.T) {
	t.Parallel()
	var em *loom.EventEmitter
	em.Emit(context.Background(), loom.Event{Type: loom.EventTaskStarted})
	off := em.On("", func(context.Context, loom.Event) { t.Error("listener on a nil emitter called") })
	off()
	if n := em.Dropped(); n != 0 {
		t.Errorf("Dropped = %d, want 0", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := em.Chan(ctx, 1)
	cancel()
	if _, ok := <-ch; ok {
		t.Error("nil emitter's Chan delivered an event")
	}
}

func TestEventEmitterListenerChangesListeners(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	em := loom.NewEventEmitter()
	var calls atomic.Int32
	var off func()
	off = em.On("", func(ctx context.Context, e loom.Event) {
		calls.Add(1)
		off() // remove itself while being called
		em.On(loom.EventTaskFailed, func(context.Context, loom.Event) { calls.Add(10) })
		if e.Type == loom.EventTaskStarted {
			em.Emit(ctx, loom.Event{Type: loom.EventTaskFailed}) // nested emit
		}
	})
	em.Emit(ctx, loom.Event{Type: loom.EventTaskStarted})
	// 1 for the first call, 10 for the listener it added receiving the
	// nested emit; the self-removed listener does not see the nested one.
	if got := calls.Load(); got != 11 {
		t.Errorf("calls = %d, want 11", got)
	}
}

func TestEventEmitterConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	em := loom.NewEventEmitter()
	var delivered atomic.Int64
	count := func(context.Context, loom.Event) { delivered.Add(1) }
	em.On("", count) // always there

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 200 {
				em.Emit(ctx, loom.Event{Type: loom.EventTaskStarted, Attempt: i})
			}
		}()
		go func() {
			defer wg.Done()
			for range 200 {
				off := em.On(loom.EventTaskStarted, func(context.Context, loom.Event) {})
				off()
			}
		}()
	}
	wg.Wait()
	if got := delivered.Load(); got != 8*200 {
		t.Errorf("the permanent listener got %d events, want %d", got, 8*200)
	}
}

func TestEventEmitterChan(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	em := loom.NewEventEmitter()
	ch := em.Chan(ctx, 8, loom.EventTaskCompleted, loom.EventTaskFailed)
	for _, typ := range []loom.EventType{loom.EventTaskStarted, loom.EventTaskCompleted, loom.EventFlowStarted, loom.EventTaskFailed} {
		em.Emit(ctx, loom.Event{Type: typ})
	}
	cancel()
	var got []loom.EventType
	for e := range ch { // ends when ctx is done
		got = append(got, e.Type)
	}
	if want := []loom.EventType{loom.EventTaskCompleted, loom.EventTaskFailed}; !reflect.DeepEqual(got, want) {
		t.Errorf("Chan delivered %v, want %v", got, want)
	}
	em.Emit(context.Background(), loom.Event{Type: loom.EventTaskCompleted}) // after close: no panic
	if n := em.Dropped(); n != 0 {
		t.Errorf("Dropped = %d, want 0", n)
	}
}

func TestEventEmitterChanDropsWhenFull(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	em := loom.NewEventEmitter()
	ch := em.Chan(ctx, 2)
	other := em.Chan(ctx, 10)
	for i := range 5 {
		em.Emit(ctx, loom.Event{Type: loom.EventTaskStarted, Attempt: i + 1})
	}
	if n := em.Dropped(); n != 3 {
		t.Errorf("Dropped = %d, want 3", n)
	}
	cancel()
	var got []int
	for e := range ch {
		got = append(got, e.Attempt)
	}
	if want := []int{1, 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("full subscriber got attempts %v, want the first two %v", got, want)
	}
	n := 0
	for range other {
		n++
	}
	if n != 5 {
		t.Errorf("the other subscriber got %d events, want all 5", n)
	}
}

func TestEventEmitterChanDefaultBuffer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	em := loom.NewEventEmitter()
	if c := cap(em.Chan(ctx, 0)); c != 64 {
		t.Errorf("cap = %d, want 64", c)
	}
}

func TestEventEmitterChanConcurrentClose(t *testing.T) {
	t.Parallel()
	em := loom.NewEventEmitter()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				em.Emit(context.Background(), loom.Event{Type: loom.EventTaskStarted})
			}
		}
	}()
	for range 100 {
		ctx, cancel := context.WithCancel(context.Background())
		ch := em.Chan(ctx, 1)
		cancel()
		for range ch {
		}
	}
	close(stop)
	wg.Wait()
}

// fakeExecutor records Start calls; Execute is never used by TriggerTask.
type fakeExecutor struct {
	mu     sync.Mutex
	starts []fakeStart
	err    error
}

type fakeStart struct {
	ctx  context.Context
	task string
	in   loom.Values
}

func (f *fakeExecutor) Execute(context.Context, *loom.Task, loom.Values, ...loom.RunOption) (*loom.Result, error) {
	return nil, errors.New("not used")
}

func (f *fakeExecutor) Start(ctx context.Context, t *loom.Task, in loom.Values, _ ...loom.RunOption) (loom.Handle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts = append(f.starts, fakeStart{ctx: ctx, task: t.Name, in: in})
	return nil, f.err
}

func TestTriggerTask(t *testing.T) {
	t.Parallel()
	task := loom.NewTask("notify", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) { return nil, nil }))
	onFailure := func(e loom.Event) (loom.Values, bool) {
		if e.Error == "" {
			return nil, false
		}
		return loom.Values{"run": e.RunID, "err": e.Error}, true
	}
	tests := []struct {
		name  string
		input func(loom.Event) (loom.Values, bool)
		event loom.Event
		want  []loom.Values // inputs of the runs started
	}{
		{"matching event starts a run", onFailure,
			loom.Event{Type: loom.EventTaskFailed, RunID: "r1", Error: "boom"},
			[]loom.Values{{"run": "r1", "err": "boom"}}},
		{"input refusing starts nothing", onFailure,
			loom.Event{Type: loom.EventTaskFailed, RunID: "r1"},
			nil},
		{"nil input passes the event's output", nil,
			loom.Event{Type: loom.EventTaskCompleted, Output: loom.Values{"x": 1}},
			[]loom.Values{{"x": 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ex := &fakeExecutor{}
			em := loom.NewEventEmitter()
			em.On("", loom.TriggerTask(ex, task, tt.input))
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // the emitting run is over; the triggered one must not be
			em.Emit(ctx, tt.event)

			var got []loom.Values
			for _, s := range ex.starts {
				got = append(got, s.in)
				if s.task != "notify" {
					t.Errorf("started %q, want notify", s.task)
				}
				if s.ctx.Err() != nil {
					t.Errorf("triggered run's context is done (%v), want it detached", s.ctx.Err())
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("started with %v, want %v", got, tt.want)
			}
		})
	}
}

// TestEventEmitterLogs swaps slog's default logger, so it does not run in
// parallel with other tests.
func TestEventEmitterLogs(t *testing.T) {
	var (
		mu  sync.Mutex
		buf bytes.Buffer
	)
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &buf}, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	logged := func() string {
		mu.Lock()
		defer mu.Unlock()
		s := buf.String()
		buf.Reset()
		return s
	}

	t.Run("panicking listener is logged and the others still run", func(t *testing.T) {
		em := loom.NewEventEmitter()
		var after atomic.Bool
		em.On("", func(context.Context, loom.Event) { panic("listener bug") })
		em.On("", func(context.Context, loom.Event) { after.Store(true) })
		em.Emit(context.Background(), loom.Event{Type: loom.EventFlowFailed, RunID: "r9"})
		if !after.Load() {
			t.Error("the listener after the panicking one was not called")
		}
		out := logged()
		for _, want := range []string{"panicked", "flow.failed", "listener bug", "r9"} {
			if !strings.Contains(out, want) {
				t.Errorf("log %q lacks %q", out, want)
			}
		}
	})
	t.Run("trigger that cannot start is logged", func(t *testing.T) {
		ex := &fakeExecutor{err: errors.New("queue full")}
		task := loom.NewTask("notify", nil)
		em := loom.NewEventEmitter()
		em.On("", loom.TriggerTask(ex, task, nil))
		em.Emit(context.Background(), loom.Event{Type: loom.EventTaskCompleted})
		out := logged()
		for _, want := range []string{"notify", "task.completed", "queue full"} {
			if !strings.Contains(out, want) {
				t.Errorf("log %q lacks %q", out, want)
			}
		}
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func ExampleEventEmitter() {
	em := loom.NewEventEmitter()
	off := em.On(loom.EventTaskFailed, func(_ context.Context, e loom.Event) {
		fmt.Printf("%s failed: %s\n", e.Task, e.Error)
	})
	defer off()
	em.Emit(context.Background(), loom.Event{Type: loom.EventTaskStarted, Task: "ingest"})
	em.Emit(context.Background(), loom.Event{Type: loom.EventTaskFailed, Task: "ingest", Error: "no such bucket"})
	// Output: ingest failed: no such bucket
}
