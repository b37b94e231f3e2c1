package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/flowfile"
)

// saga builds a flow book -> pay -> ship where ship fails; book and pay
// have compensations, whose calls go to log. block, when set, makes
// unbook wait for its context to end.
type saga struct {
	mu    sync.Mutex
	calls []string
}

func (s *saga) add(name string) {
	s.mu.Lock()
	s.calls = append(s.calls, name)
	s.mu.Unlock()
}

func (s *saga) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.calls, " ")
}

func (s *saga) flow(t *testing.T, unbookStarted chan<- struct{}) *loom.Task {
	t.Helper()
	task := func(name string, h func(ctx context.Context, in loom.Values) (loom.Values, error)) *loom.Task {
		return loom.NewTask(name, loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
			s.add(name)
			return h(ctx, in)
		}))
	}
	ok := func(out loom.Values) func(context.Context, loom.Values) (loom.Values, error) {
		return func(context.Context, loom.Values) (loom.Values, error) { return out, nil }
	}
	unbook := task("unbook", func(ctx context.Context, in loom.Values) (loom.Values, error) {
		if in["booking"] != "b1" || in["who"] != "ann" {
			return nil, loom.Permanent(errors.New("unbook got the wrong input"))
		}
		if unbookStarted != nil {
			close(unbookStarted)
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return loom.Values{}, nil
	})
	f, err := loom.NewFlow("saga", loom.FlowDef{
		Inputs: []string{"who"},
		Steps: []loom.Step{
			{Name: "book", Task: task("book", ok(loom.Values{"booking": "b1"})), Requires: map[string]string{"who": "who"},
				Provides: map[string]string{"booking": "booking"}, Compensate: unbook},
			{Name: "pay", Task: task("pay", ok(loom.Values{"payment": "p1"})), Requires: map[string]string{"booking": "booking"},
				Provides: map[string]string{"payment": "payment"}, Compensate: task("refund", ok(loom.Values{}))},
			{Name: "ship", Task: task("ship", func(context.Context, loom.Values) (loom.Values, error) {
				return nil, loom.Permanent(errors.New("no truck"))
			}), Requires: map[string]string{"payment": "payment"}},
			{Name: "skipped", Task: task("never", ok(nil)), If: func(loom.Values) bool { return false }},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// A durable flow that fails runs the compensations of its completed
// steps, last completed first, each once, then fails naming the step.
// A step whose If is false is skipped.
func TestFlowCompensatesDurably(t *testing.T) {
	t.Parallel()
	var s saga
	te := setup(t, nil, engine.Config{}, s.flow(t, nil))
	info := te.submit(t, &engine.SubmitParams{Type: "saga", Input: loom.Values{"who": "ann"}})
	got := te.wait(t, info.ID)
	if got.Status != loom.StatusFailed || !strings.Contains(got.Msg, `step "ship" failed`) {
		t.Fatalf("flow %s %q, want failed naming ship", got.Status, got.Msg)
	}
	if log := s.log(); log != "book pay ship refund unbook" {
		t.Fatalf("calls %q, want book pay ship refund unbook", log)
	}
	steps, err := te.Children(context.Background(), info.ID)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]loom.Status{}
	for _, c := range steps {
		status[c.Step] = c.Status
	}
	want := map[string]loom.Status{"book": loom.StatusCompleted, "pay": loom.StatusCompleted, "ship": loom.StatusFailed,
		"skipped": loom.StatusSkipped, "pay.compensate": loom.StatusCompleted, "book.compensate": loom.StatusCompleted}
	for k, v := range want {
		if status[k] != v {
			t.Errorf("step %s %q, want %s (all: %v)", k, status[k], v, status)
		}
	}
}

// An engine that stops between two compensations leaves the rest to the
// next one on the store: none that completed runs again, and the order
// holds.
func TestFlowCompensationSurvivesRestart(t *testing.T) {
	t.Parallel()
	var s saga
	unbookStarted := make(chan struct{})
	first := setup(t, nil, engine.Config{}, s.flow(t, unbookStarted))
	info := first.submit(t, &engine.SubmitParams{Type: "saga", Input: loom.Values{"who": "ann"}})
	<-unbookStarted
	first.stop()

	second := setup(t, first.store, engine.Config{}, s.flow(t, nil))
	got := second.wait(t, info.ID)
	if got.Status != loom.StatusFailed {
		t.Fatalf("flow %s %q, want failed", got.Status, got.Msg)
	}
	// The first unbook was stopped by the shutdown before it ended; the
	// second engine ran it to the end. refund ran once.
	if log := s.log(); log != "book pay ship refund unbook unbook" {
		t.Fatalf("calls %q, want book pay ship refund unbook unbook", log)
	}
}

// A flow file's if: and compensate: run durably as they do in memory.
func TestFlowFileConditionAndCompensateDurably(t *testing.T) {
	t.Parallel()
	var s saga
	task := func(name string, fail bool) *loom.Task {
		return loom.NewTask(name, loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
			id, _ := in["id"].(string)
			s.add(name + ":" + id)
			if fail {
				return nil, loom.Permanent(errors.New("broken"))
			}
			return loom.Values{"id": name + "-1"}, nil
		}))
	}
	reg := flowfile.Tasks{"book": task("book", false), "unbook": task("unbook", false), "bonus": task("bonus", false),
		"ship": task("ship", true)}
	f, err := flowfile.Parse("saga.yaml", []byte(`name: filesaga
inputs: [mode]
steps:
  - name: book
    type: book
    provides: {id: booking}
    compensate: {type: unbook}
  - name: bonus
    type: bonus
    if: eq .mode "vip"
  - name: ship
    type: ship
    requires: {booking: booking}
    depends_on: [bonus]
`))
	if err != nil {
		t.Fatal(err)
	}
	flow, err := f.Build(reg)
	if err != nil {
		t.Fatal(err)
	}
	te := setup(t, nil, engine.Config{}, flow)
	info := te.submit(t, &engine.SubmitParams{Type: "filesaga", Input: loom.Values{"mode": "plain"}})
	got := te.wait(t, info.ID)
	if got.Status != loom.StatusFailed || !strings.Contains(got.Msg, `step "ship" failed`) {
		t.Fatalf("flow %s %q, want failed naming ship", got.Status, got.Msg)
	}
	if log := s.log(); log != "book: ship: unbook:book-1" {
		t.Fatalf("calls %q, want book, ship (bonus skipped), then unbook with book's output", log)
	}
}
