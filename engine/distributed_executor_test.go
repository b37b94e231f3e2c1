package engine_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/loomtest"
	"github.com/loomhq/loom/store"
)

// TestRunIDIsTaskID runs tasks under given run ids: Engine.Get finds each
// by its id, the key of a keyed run is its task's idempotency_key, and a
// run id whose run failed returns that failure instead of running again.
func TestRunIDIsTaskID(t *testing.T) {
	t.Parallel()
	te := setup(t, nil, engine.Config{})
	x := engine.NewDistributedExecutor(te.Engine)
	var calls atomic.Int64
	fails := loom.NewTask("fails", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
		calls.Add(1)
		return nil, loom.Permanent(errors.New("no"))
	}))
	ctx := t.Context()
	if _, err := x.Execute(ctx, fails, nil, loom.WithRunID("run-1"), loom.WithIdempotencyKey("key-1")); err == nil {
		t.Fatal("the run completed")
	}
	info, err := te.Get(ctx, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if info.Type != "fails" || info.IdempotencyKey != "key-1" || info.Status != loom.StatusFailed {
		t.Errorf("task %+v", info)
	}
	res, err := x.Execute(ctx, fails, nil, loom.WithRunID("run-1"))
	var re *loom.RunError
	if !errors.As(err, &re) || res.RunID != "run-1" || !res.Replayed || calls.Load() != 1 {
		t.Errorf("second run under run-1: %+v, %v, %d calls", res, err, calls.Load())
	}
	other := noop("other")
	if _, err := x.Execute(ctx, other, nil, loom.WithRunID("run-1")); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("a run id taken by another type: %v, want ErrConflict", err)
	}
}

// TestAttachedRunLeftRunning ends the context of a run attached to
// another's task: the attached call returns cancelled, the task runs on.
func TestAttachedRunLeftRunning(t *testing.T) {
	t.Parallel()
	te := setup(t, nil, engine.Config{})
	x := engine.NewDistributedExecutor(te.Engine)
	started, release := make(chan struct{}), make(chan struct{})
	slow := loom.NewTask("slow", loom.HandlerFunc(func(ctx context.Context, _ loom.Values) (loom.Values, error) {
		close(started)
		select {
		case <-release:
			return loom.Values{"done": true}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	first, err := x.Start(ctx, slow, nil, loom.WithIdempotencyKey("k"))
	if err != nil {
		t.Fatal(err)
	}
	<-started
	attachCtx, stop := context.WithCancel(ctx)
	second, err := x.Start(attachCtx, slow, nil, loom.WithIdempotencyKey("k"))
	if err != nil {
		t.Fatal(err)
	}
	if second.RunID() != first.RunID() {
		t.Fatalf("attached to %s, not the running %s", second.RunID(), first.RunID())
	}
	stop()
	res, err := second.Wait(ctx)
	var re *loom.RunError
	if !errors.As(err, &re) || res == nil || res.Status != loom.StatusCancelled || res.Replayed || !errors.Is(res.Err, loom.ErrCancelled) {
		t.Errorf("attached call: %+v, %v; want it cancelled, not replayed", res, err)
	}
	close(release)
	if res, err := first.Wait(ctx); err != nil || !res.Completed() {
		t.Errorf("the first run: %+v, %v; want it completed", res, err)
	}
}

// TestEventsFromRunOn restarts on a store holding thousands of events:
// the new engine emits the events of what happens from then on, none of
// the history.
func TestEventsFromRunOn(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	old := make([]*loom.TaskInfo, 3000)
	for i := range old {
		old[i] = &loom.TaskInfo{Type: "job", Queue: "elsewhere"}
	}
	if _, err := st.InsertTasks(t.Context(), &store.InsertTasksParams{Tasks: old, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	em := loom.NewEventEmitter()
	rec := loomtest.Record(t, em)
	// The old tasks wait on a queue the engine does not serve, so only
	// the submitted one's events can appear.
	te := setup(t, st, engine.Config{Events: em}, noop("job"))
	// The task is claimed once Run started, so its events follow the
	// feed's start.
	task := te.submit(t, &engine.SubmitParams{Type: "job"})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := rec.WaitFor(ctx, func(e loom.Event) bool { return e.RunID == task.ID && e.Type == loom.EventTaskCompleted }); err != nil {
		t.Fatal(err)
	}
	for _, e := range rec.Events() {
		if e.RunID != task.ID {
			t.Errorf("an event of the store's history: %+v", e)
		}
	}
}

// TestKeyAcrossEngines runs a keyed task through one engine, then again
// through another on the same store, as another process would: the second
// returns the first run's result.
func TestKeyAcrossEngines(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	var calls atomic.Int64
	task := loom.NewTask("charge", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
		return loom.Values{"call": calls.Add(1)}, nil
	}))
	task.Idempotency = &loom.Idempotency{}
	one := engine.NewDistributedExecutor(setup(t, st, engine.Config{}, task).Engine)
	two := engine.NewDistributedExecutor(setup(t, st, engine.Config{}, task).Engine)
	first, err := one.Execute(t.Context(), task, loom.Values{"order": "o-1"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := two.Execute(t.Context(), task, loom.Values{"order": "o-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Replayed || again.RunID != first.RunID || calls.Load() != 1 {
		t.Errorf("through the second engine: %+v after %d calls; want the first run replayed", again, calls.Load())
	}
}
