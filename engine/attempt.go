package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
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
	lease       store.Lease
	typ         string
	maxAttempts int
	// retry is the task's own retry policy, nil for its type's.
	retry *loom.TaskRetry
	// local is true when the attempt went to a queue this engine's own
	// workers serve: its handler runs here, and a shutdown releases it.
	local bool
	// suspect is true when the task's lease expired before: its start is
	// recorded in the store before its handler runs, so that a handler
	// that kills its process is counted every time (see markStarted).
	suspect bool
	// began is set when an embedded worker starts the handler; marked once
	// the store knows (MarkStarted). An attempt released or lapsing before
	// it is marked gives its attempt number back.
	began, marked atomic.Bool
	// ctx is the context the embedded worker runs the handler in; cancel
	// stops it (task cancelled, lease lost, shutdown).
	ctx    context.Context
	cancel context.CancelCauseFunc
	// hold keeps a clock that moves by itself still from the claim until
	// the outcome is recorded, except while the handler waits on the
	// clock (loom.Sleep) or has run longer than handlerHoldLimit; nil on
	// other clocks.
	hold *loom.ClockHold
}

// stop cancels the attempt's context with cause, if it has one.
func (a *attempt) stop(cause error) {
	if a.cancel != nil {
		a.cancel(cause)
	}
}

// outcome is how an attempt ended, on its way to the store.
type outcome struct {
	id          string
	typ         string
	attempt     int
	maxAttempts int
	retry       *loom.TaskRetry
	output      loom.Values
	err         error
	// msg is the worker's account of a success; started and ended bound
	// the attempt by the worker's clock. Zero when the worker gave none.
	msg            string
	started, ended time.Time
	// workerID, when set, is the worker that must still hold the attempt
	// for the outcome to apply (store.Outcome.WorkerID).
	workerID string
	// released means the attempt did not run to an end (shutdown): the
	// task goes back to pending at once. unstarted, with it, means its
	// handler never started: the attempt does not count.
	released, unstarted bool
	// ran is how long the attempt ran, as its worker reported (zero when
	// unknown).
	ran time.Duration
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
	// stopRemote, when set, asks the worker elsewhere that runs a
	// non-local attempt to stop it (see Engine.stopRemote).
	stopRemote func(l store.Lease, cause error)
}

func (s *inflightSet) init() {
	s.m = make(map[store.Lease]*attempt)
	s.byID = make(map[string]*attempt)
	s.drained = make(chan struct{}, 1)
}

func (s *inflightSet) add(a *attempt) {
	s.mu.Lock()
	s.m[a.lease] = a
	s.byID[a.lease.ID] = a
	s.mu.Unlock()
}

func (s *inflightSet) remove(l store.Lease) {
	s.mu.Lock()
	if a, ok := s.m[l]; ok {
		delete(s.m, l)
		if s.byID[l.ID] == a {
			delete(s.byID, l.ID)
		}
		a.stop(nil)
		a.hold.Release()
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
		a.stop(cause)
		if !a.local && s.stopRemote != nil {
			s.stopRemote(a.lease, cause)
		}
	}
}

// lose stops and forgets one attempt, if this engine holds it: the store
// no longer counts it as this engine's. Its handler, stopped with
// errLeaseLost, reports no result: the attempt number may be claimed again
// (a lapsed attempt that never started gives its number back), and a
// result of the lost run must not be taken for the new one's.
func (s *inflightSet) lose(l store.Lease) {
	s.mu.Lock()
	a := s.m[l]
	s.mu.Unlock()
	if a != nil {
		a.stop(errLeaseLost)
		s.remove(l)
		if !a.local && s.stopRemote != nil {
			s.stopRemote(l, errLeaseLost)
		}
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
		a.stop(cause)
	}
}

// get returns the attempt of a lease, or nil.
func (s *inflightSet) get(l store.Lease) *attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[l]
}

// startList collects the attempts whose handlers started since the store
// was last told: the next recording of outcomes, or the log flusher when
// none comes, tells it.
type startList struct {
	mu sync.Mutex
	as []*attempt
}

func (l *startList) add(a *attempt) {
	l.mu.Lock()
	l.as = append(l.as, a)
	l.mu.Unlock()
}

// take returns the attempts collected, and forgets them.
func (l *startList) take() []*attempt {
	l.mu.Lock()
	defer l.mu.Unlock()
	as := l.as
	l.as = nil
	return as
}

// unmarked returns the attempts whose handlers started here and that the
// store has not been told of.
func (s *inflightSet) unmarked() []*attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*attempt
	for _, a := range s.m {
		if a.began.Load() && !a.marked.Load() {
			out = append(out, a)
		}
	}
	return out
}

// locals returns the attempts whose handlers run on this engine.
func (s *inflightSet) locals() []*attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*attempt
	for _, a := range s.m {
		if a.local {
			out = append(out, a)
		}
	}
	return out
}
