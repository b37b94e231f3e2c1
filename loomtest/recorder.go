package loomtest

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/loomhq/loom"
)

// Recorder keeps every event an EventEmitter delivers, so a test can say
// which tasks and steps ran, how often, and how they ended, without
// reaching into the executor. Attach one with Record (or NewRecorder) and
// pass the same emitter in loom.Config.Events, or in engine.Config.Events
// for durable runs (their events may arrive just after Execute returned:
// wait for the one you assert on with WaitFor). It is safe for concurrent
// use, so it works with executors that run steps in parallel.
//
// Names are a step's name for events about a flow step, and the task's (or
// flow's) name otherwise.
type Recorder struct {
	mu      sync.Mutex
	events  []loom.Event
	changed chan struct{} // closed and replaced on every event
	off     func()
}

// NewRecorder returns a Recorder listening to every event of em until Stop
// is called. A nil em gives a Recorder that records nothing.
func NewRecorder(em *loom.EventEmitter) *Recorder {
	r := &Recorder{changed: make(chan struct{})}
	r.off = em.On("", r.record)
	return r
}

// Record returns a Recorder listening to em for the rest of the test: it
// stops listening when the test ends, so that an emitter shared between
// tests does not keep feeding it.
func Record(t testing.TB, em *loom.EventEmitter) *Recorder {
	t.Helper()
	r := NewRecorder(em)
	t.Cleanup(r.Stop)
	return r
}

// Stop detaches the Recorder from its emitter; what it recorded stays
// readable. Calling Stop more than once is harmless.
func (r *Recorder) Stop() { r.off() }

func (r *Recorder) record(_ context.Context, e loom.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	close(r.changed)
	r.changed = make(chan struct{})
}

// Events returns every event recorded so far, in the order received.
func (r *Recorder) Events() []loom.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// Ran returns the names of the tasks, flows and steps that started, in the
// order they started. Each run counts once: retries of it do not repeat its
// name (a task run twice, or a step fanned out over three items, does
// appear as often as it was run). Runs answered from an idempotency record
// did not run and are not listed.
func (r *Recorder) Ran() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	type run struct{ id, name string }
	seen := make(map[run]bool)
	var names []string
	for _, e := range r.events {
		if e.Type != loom.EventTaskStarted && e.Type != loom.EventFlowStarted {
			continue
		}
		if e.Attempt > 1 {
			continue
		}
		name := eventName(e)
		if e.RunID != "" {
			// A flow may announce its start both as a task and as a flow.
			k := run{e.RunID, name}
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		names = append(names, name)
	}
	return names
}

// Attempts returns how many attempts of name started, over all its runs:
// 3 for a task that succeeded on its third try.
func (r *Recorder) Attempts(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Type == loom.EventTaskStarted && eventName(e) == name {
			n++
		}
	}
	return n
}

// Status returns how the last run of name ended: completed, failed,
// cancelled or skipped. A run answered from an idempotency record counts
// as completed, or failed when the record carries an error. Status is ""
// while no run of name has ended.
func (r *Recorder) Status(name string) loom.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range slices.Backward(r.events) {
		if eventName(e) != name {
			continue
		}
		if s := terminalStatus(e); s != "" {
			return s
		}
	}
	return ""
}

// WaitFor returns the first event recorded, before or after the call, for
// which match is true; or ctx's error if ctx ends first. Tests of
// executors that return before the run ends (AsyncExecutor, triggers)
// use it to wait for the event they assert on instead of sleeping.
func (r *Recorder) WaitFor(ctx context.Context, match func(loom.Event) bool) (loom.Event, error) {
	next := 0
	for {
		r.mu.Lock()
		for ; next < len(r.events); next++ {
			if e := r.events[next]; match(e) {
				r.mu.Unlock()
				return e, nil
			}
		}
		changed := r.changed
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return loom.Event{}, ctx.Err()
		case <-changed:
		}
	}
}

// AssertRan fails t unless exactly names ran, in this order (see Ran).
func (r *Recorder) AssertRan(t testing.TB, names ...string) {
	t.Helper()
	if got := r.Ran(); !slices.Equal(got, names) {
		t.Errorf("ran %q, want %q", got, names)
	}
}

// AssertNotRan fails t if any of names ran.
func (r *Recorder) AssertNotRan(t testing.TB, names ...string) {
	t.Helper()
	ran := r.Ran()
	for _, n := range names {
		if slices.Contains(ran, n) {
			t.Errorf("%q ran, want it not to (ran %q)", n, ran)
		}
	}
}

func eventName(e loom.Event) string {
	if e.Step != "" {
		return e.Step
	}
	return e.Task
}

func terminalStatus(e loom.Event) loom.Status {
	switch e.Type {
	case loom.EventTaskCompleted, loom.EventFlowCompleted:
		return loom.StatusCompleted
	case loom.EventTaskFailed, loom.EventFlowFailed:
		return loom.StatusFailed
	case loom.EventTaskCancelled:
		return loom.StatusCancelled
	case loom.EventTaskSkipped:
		return loom.StatusSkipped
	case loom.EventTaskReplayed:
		if e.Error != "" {
			return loom.StatusFailed
		}
		return loom.StatusCompleted
	}
	return ""
}
