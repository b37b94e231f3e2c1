package engine

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// Causes an attempt's context is cancelled with, so the worker can tell
// them apart from the handler's own errors.
var (
	errLeaseLost = errors.New("engine: lease lost")
	errShutdown  = errors.New("engine: shutting down")
	errExpired   = errors.New("engine: task expired")
)

// attempt is one claimed attempt of a task held by this engine, from claim
// until its outcome is recorded.
type attempt struct {
	task   *loom.TaskInfo
	reg    *registration
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func (a *attempt) lease() store.Lease { return store.Lease{ID: a.task.ID, Attempt: a.task.Attempt} }

// outcome is how an attempt ended, on its way to the completer.
type outcome struct {
	id          string
	typ         string
	attempt     int
	maxAttempts int
	started     time.Time
	ended       time.Time
	output      loom.Values
	err         error
	// released means the attempt did not run to an end (shutdown): the
	// task goes back to pending at once.
	released bool
}

// inflightSet tracks the attempts this engine holds, for heartbeats,
// cancellation, back-pressure and shutdown.
type inflightSet struct {
	mu sync.Mutex
	m  map[store.Lease]*attempt
	// byID finds the attempt of a task to cancel it.
	byID map[string]*attempt
	// drained is signalled when the set becomes empty.
	drained chan struct{}
}

func (s *inflightSet) init() {
	s.m = make(map[store.Lease]*attempt)
	s.byID = make(map[string]*attempt)
	s.drained = make(chan struct{}, 1)
}

func (s *inflightSet) add(a *attempt) {
	s.mu.Lock()
	s.m[a.lease()] = a
	s.byID[a.task.ID] = a
	s.mu.Unlock()
}

func (s *inflightSet) remove(l store.Lease) {
	s.mu.Lock()
	if a, ok := s.m[l]; ok {
		delete(s.m, l)
		if s.byID[l.ID] == a {
			delete(s.byID, l.ID)
		}
		a.cancel(nil)
	}
	empty := len(s.m) == 0
	s.mu.Unlock()
	if empty {
		select {
		case s.drained <- struct{}{}:
		default:
		}
	}
}

func (s *inflightSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *inflightSet) leases() []store.Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Lease, 0, len(s.m))
	for l := range s.m {
		out = append(out, l)
	}
	return out
}

// cancelTask stops the attempt of task id, if this engine runs one.
func (s *inflightSet) cancelTask(id string, cause error) {
	s.mu.Lock()
	a := s.byID[id]
	s.mu.Unlock()
	if a != nil {
		a.cancel(cause)
	}
}

// cancelLease stops one attempt, if this engine still holds it.
func (s *inflightSet) cancelLease(l store.Lease, cause error) {
	s.mu.Lock()
	a := s.m[l]
	s.mu.Unlock()
	if a != nil {
		a.cancel(cause)
	}
}

// cancelAll stops every attempt with cause.
func (s *inflightSet) cancelAll(cause error) {
	s.mu.Lock()
	as := make([]*attempt, 0, len(s.m))
	for _, a := range s.m {
		as = append(as, a)
	}
	s.mu.Unlock()
	for _, a := range as {
		a.cancel(cause)
	}
}
