package loomtest_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/loomtest"
)

// flowEvents is what an executor emits for a flow "etl" whose step
// "ingest" succeeds on its second attempt, "clean" is skipped and "store"
// fails.
func flowEvents() []loom.Event {
	const flow = "etl"
	return []loom.Event{
		{Type: loom.EventFlowStarted, RunID: "f1", Task: flow},
		{Type: loom.EventTaskStarted, RunID: "f1", Task: flow, Attempt: 1},
		{Type: loom.EventTaskStarted, RunID: "s1", FlowRunID: "f1", Task: "ingest_task", Step: "ingest", Attempt: 1},
		{Type: loom.EventTaskRetrying, RunID: "s1", FlowRunID: "f1", Task: "ingest_task", Step: "ingest", Attempt: 1, Error: "flaky"},
		{Type: loom.EventTaskStarted, RunID: "s1", FlowRunID: "f1", Task: "ingest_task", Step: "ingest", Attempt: 2},
		{Type: loom.EventTaskCompleted, RunID: "s1", FlowRunID: "f1", Task: "ingest_task", Step: "ingest", Attempt: 2},
		{Type: loom.EventTaskSkipped, RunID: "s2", FlowRunID: "f1", Task: "clean_task", Step: "clean"},
		{Type: loom.EventTaskStarted, RunID: "s3", FlowRunID: "f1", Task: "store_task", Step: "store", Attempt: 1},
		{Type: loom.EventTaskFailed, RunID: "s3", FlowRunID: "f1", Task: "store_task", Step: "store", Attempt: 1, Error: "disk full"},
		{Type: loom.EventFlowFailed, RunID: "f1", Task: flow, Error: "store: disk full"},
	}
}

func emitAll(em *loom.EventEmitter, events []loom.Event) {
	for _, e := range events {
		em.Emit(context.Background(), e)
	}
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	em := loom.NewEventEmitter()
	rec := loomtest.Record(t, em)
	emitAll(em, flowEvents())

	if got := rec.Events(); !reflect.DeepEqual(got, flowEvents()) {
		t.Errorf("Events = %+v, want every event in order", got)
	}
	if got, want := rec.Ran(), []string{"etl", "ingest", "store"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Ran = %q, want %q", got, want)
	}
	attempts := []struct {
		name string
		want int
	}{{"ingest", 2}, {"store", 1}, {"clean", 0}, {"etl", 1}, {"unknown", 0}}
	for _, a := range attempts {
		if got := rec.Attempts(a.name); got != a.want {
			t.Errorf("Attempts(%q) = %d, want %d", a.name, got, a.want)
		}
	}
	statuses := []struct {
		name string
		want loom.Status
	}{
		{"etl", loom.StatusFailed},
		{"ingest", loom.StatusCompleted},
		{"clean", loom.StatusSkipped},
		{"store", loom.StatusFailed},
		{"unknown", ""},
	}
	for _, s := range statuses {
		if got := rec.Status(s.name); got != s.want {
			t.Errorf("Status(%q) = %q, want %q", s.name, got, s.want)
		}
	}
	rec.AssertRan(t, "etl", "ingest", "store")
	rec.AssertNotRan(t, "clean", "unknown")
}

func TestRecorderStatusIsTheLastRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		events []loom.Event
		want   loom.Status
	}{
		{"failed then completed", []loom.Event{
			{Type: loom.EventTaskFailed, Task: "t"}, {Type: loom.EventTaskCompleted, Task: "t"},
		}, loom.StatusCompleted},
		{"started after an end is still the end", []loom.Event{
			{Type: loom.EventTaskCancelled, Task: "t"}, {Type: loom.EventTaskStarted, Task: "t", Attempt: 1},
		}, loom.StatusCancelled},
		{"replayed result", []loom.Event{{Type: loom.EventTaskReplayed, Task: "t"}}, loom.StatusCompleted},
		{"replayed failure", []loom.Event{{Type: loom.EventTaskReplayed, Task: "t", Error: "declined"}}, loom.StatusFailed},
		{"retrying only", []loom.Event{{Type: loom.EventTaskRetrying, Task: "t"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			em := loom.NewEventEmitter()
			rec := loomtest.Record(t, em)
			emitAll(em, tt.events)
			if got := rec.Status("t"); got != tt.want {
				t.Errorf("Status = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRecorderRanCountsEachRun(t *testing.T) {
	t.Parallel()
	em := loom.NewEventEmitter()
	rec := loomtest.Record(t, em)
	emitAll(em, []loom.Event{
		{Type: loom.EventTaskStarted, RunID: "a", Task: "fetch", Attempt: 1},
		{Type: loom.EventTaskStarted, RunID: "b", Task: "fetch", Attempt: 1},
		{Type: loom.EventTaskStarted, RunID: "a", Task: "fetch", Attempt: 2},
		{Type: loom.EventTaskReplayed, RunID: "c", Task: "fetch"},
		{Type: loom.EventTaskStarted, Task: "anon"},
	})
	rec.AssertRan(t, "fetch", "fetch", "anon")
	if got := rec.Attempts("fetch"); got != 3 {
		t.Errorf("Attempts = %d, want 3", got)
	}
}

func TestRecorderStop(t *testing.T) {
	t.Parallel()
	em := loom.NewEventEmitter()
	rec := loomtest.NewRecorder(em)
	em.Emit(context.Background(), loom.Event{Type: loom.EventTaskStarted, Task: "a"})
	rec.Stop()
	rec.Stop()
	em.Emit(context.Background(), loom.Event{Type: loom.EventTaskStarted, Task: "b"})
	rec.AssertRan(t, "a")
}

func TestRecordStopsAtCleanup(t *testing.T) {
	t.Parallel()
	em := loom.NewEventEmitter()
	var rec *loomtest.Recorder
	t.Run("inner", func(t *testing.T) {
		rec = loomtest.Record(t, em)
		em.Emit(context.Background(), loom.Event{Type: loom.EventTaskStarted, Task: "a"})
	})
	em.Emit(context.Background(), loom.Event{Type: loom.EventTaskStarted, Task: "b"})
	rec.AssertRan(t, "a")
}

func TestRecorderNilEmitter(t *testing.T) {
	t.Parallel()
	rec := loomtest.Record(t, nil)
	rec.AssertRan(t)
	if n := len(rec.Events()); n != 0 {
		t.Errorf("Events = %d, want none", n)
	}
}

func TestRecorderAssertionsFail(t *testing.T) {
	t.Parallel()
	em := loom.NewEventEmitter()
	rec := loomtest.Record(t, em)
	emitAll(em, flowEvents())
	tests := []struct {
		name    string
		assert  func(t testing.TB)
		wantMsg string // empty: the assertion passes
	}{
		{"AssertRan exact", func(t testing.TB) { rec.AssertRan(t, "etl", "ingest", "store") }, ""},
		{"AssertRan missing one", func(t testing.TB) { rec.AssertRan(t, "etl", "ingest") }, `ran ["etl" "ingest" "store"], want ["etl" "ingest"]`},
		{"AssertRan wrong order", func(t testing.TB) { rec.AssertRan(t, "etl", "store", "ingest") }, "want"},
		{"AssertRan extra", func(t testing.TB) { rec.AssertRan(t, "etl", "ingest", "clean", "store") }, "want"},
		{"AssertNotRan passes", func(t testing.TB) { rec.AssertNotRan(t, "clean") }, ""},
		{"AssertNotRan fails", func(t testing.TB) { rec.AssertNotRan(t, "clean", "store") }, `"store" ran`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ft := &fakeTB{TB: t}
			tt.assert(ft)
			switch msg := ft.message(); {
			case tt.wantMsg == "" && msg != "":
				t.Errorf("assertion failed with %q, want it to pass", msg)
			case tt.wantMsg != "" && !strings.Contains(msg, tt.wantMsg):
				t.Errorf("assertion message %q, want it to contain %q", msg, tt.wantMsg)
			}
		})
	}
}

func TestRecorderWaitFor(t *testing.T) {
	t.Parallel()
	em := loom.NewEventEmitter()
	rec := loomtest.Record(t, em)
	em.Emit(context.Background(), loom.Event{Type: loom.EventTaskStarted, Task: "early"})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if e, err := rec.WaitFor(ctx, func(e loom.Event) bool { return e.Task == "early" }); err != nil || e.Task != "early" {
		t.Errorf("WaitFor an event already recorded = %+v, %v", e, err)
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 5 {
			em.Emit(context.Background(), loom.Event{Type: loom.EventTaskCompleted, Task: fmt.Sprint("t", i)})
		}
	}()
	e, err := rec.WaitFor(ctx, func(e loom.Event) bool { return e.Task == "t4" })
	wg.Wait()
	if err != nil || e.Type != loom.EventTaskCompleted {
		t.Errorf("WaitFor = %+v, %v", e, err)
	}

	short, cancelShort := context.WithCancel(context.Background())
	cancelShort()
	if _, err := rec.WaitFor(short, func(loom.Event) bool { return false }); err != context.Canceled {
		t.Errorf("WaitFor with a done context = %v, want context.Canceled", err)
	}
}

func TestRecorderConcurrent(t *testing.T) {
	t.Parallel()
	em := loom.NewEventEmitter()
	rec := loomtest.Record(t, em)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				em.Emit(context.Background(), loom.Event{Type: loom.EventTaskStarted, RunID: fmt.Sprint(i, "-", j), Task: "t", Attempt: 1})
				_ = rec.Ran()
				_ = rec.Status("t")
			}
		}()
	}
	wg.Wait()
	if got := rec.Attempts("t"); got != 400 {
		t.Errorf("Attempts = %d, want 400", got)
	}
}

// fakeTB captures what an assertion reports instead of failing the test.
type fakeTB struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Fatalf(format string, args ...any) { f.Errorf(format, args...) }

func (f *fakeTB) message() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.msgs, "\n")
}
