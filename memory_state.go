package loom

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// MemoryState is a StateManager that keeps everything in memory, for tests
// and for executors that need no durability. It is safe for concurrent use.
//
// It copies what it is given and what it returns (maps of Values, steps and
// results, down through nested JSON-shaped maps and slices), so that neither
// the executor nor a test reading the state can change what is stored behind
// the other's back. It never blocks and does no I/O, so it ignores ctx.
// The zero value is ready to use, as is NewMemoryState's.
type MemoryState struct {
	mu      sync.Mutex
	runs    map[string]RunState
	keys    map[string]IdempotencyRecord
	waiters map[string]chan struct{} // closed on the next change of the key
}

var (
	_ StateManager = (*MemoryState)(nil)
	_ KeyWaiter    = (*MemoryState)(nil)
)

// NewMemoryState returns an empty MemoryState.
func NewMemoryState() *MemoryState {
	s := &MemoryState{}
	s.initLocked()
	return s
}

// initLocked makes the zero value usable. s.mu must be held.
func (s *MemoryState) initLocked() {
	if s.runs == nil {
		s.runs = make(map[string]RunState)
		s.keys = make(map[string]IdempotencyRecord)
		s.waiters = make(map[string]chan struct{})
	}
}

// SaveRun creates or replaces run. When run.Steps is nil the steps already
// saved are kept, so an executor can update a flow's own status without
// re-sending every step. An empty RunID is an error.
func (s *MemoryState) SaveRun(ctx context.Context, run RunState) error {
	if run.RunID == "" {
		return errors.New("save run: empty run id")
	}
	run = cloneRunState(run)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	if run.Steps == nil {
		run.Steps = s.runs[run.RunID].Steps
	}
	s.runs[run.RunID] = run
	return nil
}

// SaveStep creates or replaces the step named step.Name in the run runID.
// The run must have been saved first: a step of an unknown run is an error
// matching ErrNotFound, as it is for a store with foreign keys.
func (s *MemoryState) SaveStep(ctx context.Context, runID string, step StepState) error {
	if step.Name == "" {
		return fmt.Errorf("save step of run %s: empty step name", runID)
	}
	step.Output = cloneValues(step.Output)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	run, ok := s.runs[runID]
	if !ok {
		return fmt.Errorf("save step %s of run %s: %w", step.Name, runID, ErrNotFound)
	}
	// The stored map may be shared with nothing else (SaveRun and LoadRun
	// copy), so it can be written in place once it exists.
	if run.Steps == nil {
		run.Steps = make(map[string]StepState)
		s.runs[runID] = run
	}
	run.Steps[step.Name] = step
	return nil
}

// LoadRun returns a copy of the run runID with its steps, or an error
// matching ErrNotFound.
func (s *MemoryState) LoadRun(ctx context.Context, runID string) (RunState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	run, ok := s.runs[runID]
	if !ok {
		return RunState{}, fmt.Errorf("load run %s: %w", runID, ErrNotFound)
	}
	return cloneRunState(run), nil
}

// Runs returns a copy of every run saved, oldest first (by Started, then
// RunID), so a test can see at a glance what an executor recorded.
func (s *MemoryState) Runs() []RunState {
	s.mu.Lock()
	out := make([]RunState, 0, len(s.runs))
	for _, r := range s.runs {
		out = append(out, cloneRunState(r))
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b RunState) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return cmp.Compare(a.RunID, b.RunID)
	})
	return out
}

// AcquireKey takes key for runID when the key is free: never seen, its
// recorded result expired (ExpiresAt <= now), or held by a run whose lock
// lapsed (LockedUntil <= now), which is then taken over. A run that already
// holds the key acquires it again, with its lock extended. Otherwise it
// returns the existing record with acquired=false: in flight (Status
// StatusRunning), or with the Result to return.
func (s *MemoryState) AcquireKey(ctx context.Context, key, runID string, now time.Time, lockTTL time.Duration) (IdempotencyRecord, bool, error) {
	switch {
	case key == "":
		return IdempotencyRecord{}, false, errors.New("acquire idempotency key: empty key")
	case runID == "":
		return IdempotencyRecord{}, false, fmt.Errorf("acquire idempotency key %s: empty run id", key)
	case lockTTL <= 0:
		return IdempotencyRecord{}, false, fmt.Errorf("acquire idempotency key %s: lock TTL %s is not positive", key, lockTTL)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	rec, exists := s.keys[key]
	if exists {
		held := rec.Status == StatusRunning
		switch {
		case held && rec.RunID == runID:
			// The holder itself, for example a redelivered attempt.
		case held && rec.LockedUntil.After(now):
			return cloneRecord(rec), false, nil
		case !held && rec.ExpiresAt.After(now):
			return cloneRecord(rec), false, nil
		}
	}
	changed := exists && rec.RunID != runID
	rec = IdempotencyRecord{
		Key:         key,
		Status:      StatusRunning,
		RunID:       runID,
		LockedUntil: now.Add(lockTTL),
	}
	s.keys[key] = rec
	if changed {
		s.notifyLocked(key)
	}
	return rec, true, nil
}

// CompleteKey records result under key until expires: later AcquireKey
// calls return it until then. The record's status is the result's, so a
// failed run kept with KeepOnFailure is recorded as failed. A nil result is
// an error.
func (s *MemoryState) CompleteKey(ctx context.Context, key string, result *Result, expires time.Time) error {
	if result == nil {
		return fmt.Errorf("complete idempotency key %s: nil result", key)
	}
	result = cloneResult(result)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	runID := result.RunID
	if runID == "" {
		runID = s.keys[key].RunID
	}
	s.keys[key] = IdempotencyRecord{
		Key:       key,
		Status:    result.Status,
		RunID:     runID,
		Result:    result,
		ExpiresAt: expires,
	}
	s.notifyLocked(key)
	return nil
}

// ReleaseKey forgets key, so the next AcquireKey takes it. Releasing a key
// that is not held is not an error.
func (s *MemoryState) ReleaseKey(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	if _, ok := s.keys[key]; !ok {
		return nil
	}
	delete(s.keys, key)
	s.notifyLocked(key)
	return nil
}

// KeyChanged returns a channel closed on the next CompleteKey or ReleaseKey
// of key, or when AcquireKey gives it to another run (a lapsed lock taken
// over, an expired record replaced). To wait without missing a change, get
// the channel before the AcquireKey whose answer you wait on.
func (s *MemoryState) KeyChanged(key string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	ch, ok := s.waiters[key]
	if !ok {
		ch = make(chan struct{})
		s.waiters[key] = ch
	}
	return ch
}

// notifyLocked wakes whoever waits on key. s.mu must be held.
func (s *MemoryState) notifyLocked(key string) {
	if ch, ok := s.waiters[key]; ok {
		close(ch)
		delete(s.waiters, key)
	}
}

func cloneRecord(rec IdempotencyRecord) IdempotencyRecord {
	rec.Result = cloneResult(rec.Result)
	return rec
}

func cloneRunState(r RunState) RunState {
	r.Input = cloneValues(r.Input)
	r.Output = cloneValues(r.Output)
	if r.Steps != nil {
		steps := make(map[string]StepState, len(r.Steps))
		for name, st := range r.Steps {
			st.Output = cloneValues(st.Output)
			steps[name] = st
		}
		r.Steps = steps
	}
	return r
}

func cloneResult(r *Result) *Result {
	if r == nil {
		return nil
	}
	c := *r
	c.Output = cloneValues(r.Output)
	if r.Steps != nil {
		c.Steps = make(map[string]*Result, len(r.Steps))
		for name, st := range r.Steps {
			c.Steps[name] = cloneResult(st)
		}
	}
	return &c
}

// cloneValues copies v and the JSON-shaped maps and slices nested in it;
// other values (strings, numbers, structs) are shared. Nil stays nil.
func cloneValues(v Values) Values {
	if v == nil {
		return nil
	}
	out := make(Values, len(v))
	for k, x := range v {
		out[k] = cloneAny(x)
	}
	return out
}

func cloneAny(x any) any {
	switch x := x.(type) {
	case Values:
		return cloneValues(x)
	case map[string]any:
		return map[string]any(cloneValues(x))
	case []any:
		if x == nil {
			return x
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneAny(e)
		}
		return out
	case []map[string]any:
		if x == nil {
			return x
		}
		out := make([]map[string]any, len(x))
		for i, e := range x {
			out[i] = map[string]any(cloneValues(e))
		}
		return out
	case []Values:
		if x == nil {
			return x
		}
		out := make([]Values, len(x))
		for i, e := range x {
			out[i] = cloneValues(e)
		}
		return out
	case []string:
		return slices.Clone(x)
	case []int:
		return slices.Clone(x)
	case []float64:
		return slices.Clone(x)
	case map[string]string:
		return maps.Clone(x)
	default:
		return x
	}
}
