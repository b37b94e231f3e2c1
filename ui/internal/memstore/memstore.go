// Package memstore is an in-memory store.Store for the UI's tests:
// quick to set up, with the semantics store/store.go documents, and no
// durability at all. Production code uses store/sqlite or store/postgres.
package memstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// Store is an in-memory store.Store.
type Store struct {
	mu      sync.Mutex
	tasks   map[string]*loom.TaskInfo
	order   []string // insertion order
	idem    map[string]string
	steps   map[string]string // parent+"\x00"+step -> id
	logs    map[string][]store.LogChunk
	events  []store.Event
	queues  map[string]store.QueueConfig
	workers map[string]store.WorkerInfo
	seq     int64
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		tasks:   map[string]*loom.TaskInfo{},
		idem:    map[string]string{},
		steps:   map[string]string{},
		logs:    map[string][]store.LogChunk{},
		queues:  map[string]store.QueueConfig{},
		workers: map[string]store.WorkerInfo{},
	}
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Store) event(t *loom.TaskInfo, typ string, now time.Time) {
	s.seq++
	s.events = append(s.events, store.Event{Seq: s.seq, TaskID: t.ID, Type: typ, Time: now, Attempt: t.Attempt, Status: t.Status, Msg: t.Msg})
}

// InsertTasks implements store.Store.
func (s *Store) InsertTasks(_ context.Context, p *store.InsertTasksParams) ([]store.InsertResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.InsertResult, 0, len(p.Tasks))
	for _, in := range p.Tasks {
		if in.Type == "" {
			return nil, fmt.Errorf("%w: empty type", store.ErrInvalid)
		}
		if in.IdempotencyKey != "" {
			if id, ok := s.idem[in.IdempotencyKey]; ok {
				out = append(out, store.InsertResult{Task: s.tasks[id].Clone(), Existing: true})
				continue
			}
		}
		if in.ParentID != "" && in.Step != "" {
			if id, ok := s.steps[in.ParentID+"\x00"+in.Step]; ok {
				out = append(out, store.InsertResult{Task: s.tasks[id].Clone(), Existing: true})
				continue
			}
		}
		t := in.Clone()
		if t.ID == "" {
			t.ID = newID()
		}
		if _, ok := s.tasks[t.ID]; ok {
			out = append(out, store.InsertResult{Task: s.tasks[t.ID].Clone(), Existing: true})
			continue
		}
		if t.Queue == "" {
			t.Queue = loom.DefaultQueue
		}
		if t.Status == "" {
			t.Status = loom.StatusPending
		}
		if t.Created.IsZero() {
			t.Created = p.Now
		}
		if t.RunAt.IsZero() {
			t.RunAt = t.Created
		}
		if t.Timeout.IsZero() {
			t.Timeout = t.Created.Add(loom.DefaultTaskTimeout)
		}
		if t.MaxAttempts == 0 {
			t.MaxAttempts = 1
		}
		s.tasks[t.ID] = t
		s.order = append(s.order, t.ID)
		if t.IdempotencyKey != "" {
			s.idem[t.IdempotencyKey] = t.ID
		}
		if t.ParentID != "" && t.Step != "" {
			s.steps[t.ParentID+"\x00"+t.Step] = t.ID
		}
		s.event(t, "task.created", p.Now)
		out = append(out, store.InsertResult{Task: t.Clone()})
	}
	return out, nil
}

// GetTask implements store.Store.
func (s *Store) GetTask(_ context.Context, id string) (*loom.TaskInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[id]
	if !ok {
		return nil, fmt.Errorf("task %s: %w", id, store.ErrNotFound)
	}
	return t.Clone(), nil
}

// ListTasks implements store.Store (without cursors: one page).
func (s *Store) ListTasks(_ context.Context, p *store.ListTasksParams) (*store.TaskPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := p.Limit
	if limit <= 0 {
		limit = 50
	}
	page := &store.TaskPage{}
	for i := len(s.order) - 1; i >= 0 && len(page.Tasks) < limit; i-- {
		t := s.tasks[s.order[i]]
		if len(p.Status) > 0 && !hasStatus(p.Status, t.Status) ||
			p.Type != "" && t.Type != p.Type || p.Queue != "" && t.Queue != p.Queue ||
			p.ParentID != "" && t.ParentID != p.ParentID || p.TopLevel && t.ParentID != "" ||
			p.Text != "" && !strings.Contains(t.ID+t.Type+t.Info+t.Msg+t.IdempotencyKey, p.Text) {
			continue
		}
		page.Tasks = append(page.Tasks, t.Clone())
	}
	return page, nil
}

func hasStatus(ss []loom.Status, s loom.Status) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// ListChildren implements store.Store.
func (s *Store) ListChildren(_ context.Context, parentID string) ([]*loom.TaskInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*loom.TaskInfo
	for _, id := range s.order {
		if t := s.tasks[id]; t.ParentID == parentID {
			out = append(out, t.Clone())
		}
	}
	return out, nil
}

// ClaimTasks implements store.Store.
func (s *Store) ClaimTasks(_ context.Context, p *store.ClaimTasksParams) ([]*loom.TaskInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.queues[p.Queue]; ok && q.Paused {
		return nil, nil
	}
	var cand []*loom.TaskInfo
	running := 0
	for _, t := range s.tasks {
		if t.Queue != p.Queue {
			continue
		}
		if t.Status == loom.StatusRunning {
			running++
		}
		if t.Status == loom.StatusPending && !t.RunAt.After(p.Now) {
			cand = append(cand, t)
		}
	}
	sort.Slice(cand, func(i, j int) bool {
		a, b := cand[i], cand[j]
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		if !a.RunAt.Equal(b.RunAt) {
			return a.RunAt.Before(b.RunAt)
		}
		return a.ID < b.ID
	})
	limit := p.Limit
	if p.MaxRunning > 0 && p.MaxRunning-running < limit {
		limit = p.MaxRunning - running
	}
	var out []*loom.TaskInfo
	for _, t := range cand {
		if len(out) >= limit {
			break
		}
		t.Status = loom.StatusRunning
		t.Attempt++
		t.WorkerID = p.WorkerID
		now, lease := p.Now, p.LeaseUntil
		t.Started = &now
		t.LeaseUntil = &lease
		s.event(t, "task.started", p.Now)
		out = append(out, t.Clone())
	}
	return out, nil
}

// ExtendLeases implements store.Store.
func (s *Store) ExtendLeases(_ context.Context, p *store.ExtendLeasesParams) ([]store.LeaseOutcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.LeaseOutcome, 0, len(p.Leases))
	for _, l := range p.Leases {
		o := store.LeaseOutcome{Lease: l}
		if t, ok := s.tasks[l.ID]; ok {
			o.Status = t.Status
			if t.Status == loom.StatusRunning && t.Attempt == l.Attempt {
				lease := p.LeaseUntil
				t.LeaseUntil = &lease
				o.Extended = true
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// FinishTasks implements store.Store.
func (s *Store) FinishTasks(_ context.Context, p *store.FinishTasksParams) ([]store.FinishResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.FinishResult, 0, len(p.Outcomes))
	for _, o := range p.Outcomes {
		t, ok := s.tasks[o.ID]
		if !ok {
			return nil, fmt.Errorf("task %s: %w", o.ID, store.ErrNotFound)
		}
		if t.Status != loom.StatusRunning || t.Attempt != o.Attempt {
			out = append(out, store.FinishResult{Task: t.Clone()})
			continue
		}
		t.Msg = o.Msg
		t.LeaseUntil = nil
		switch o.Status {
		case loom.StatusPending:
			t.Status = loom.StatusPending
			t.RunAt = o.RetryAt
			s.event(t, "task.retrying", p.Now)
		case loom.StatusCompleted, loom.StatusFailed:
			t.Status = o.Status
			t.Output = o.Output
			now := p.Now
			t.Ended = &now
			t.Result = loom.ResultComplete
			if o.Status == loom.StatusFailed {
				t.Result = loom.ResultError
			}
			s.event(t, "task."+string(o.Status), p.Now)
		default:
			return nil, fmt.Errorf("%w: outcome status %q", store.ErrInvalid, o.Status)
		}
		out = append(out, store.FinishResult{Task: t.Clone(), Applied: true})
	}
	return out, nil
}

// CancelTask implements store.Store.
func (s *Store) CancelTask(_ context.Context, p *store.CancelTaskParams) ([]*loom.TaskInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[p.ID]
	if !ok {
		return nil, fmt.Errorf("task %s: %w", p.ID, store.ErrNotFound)
	}
	if t.Status.Terminal() {
		return nil, fmt.Errorf("task %s is %s: %w", p.ID, t.Status, store.ErrConflict)
	}
	var out []*loom.TaskInfo
	var cancel func(t *loom.TaskInfo)
	cancel = func(t *loom.TaskInfo) {
		if !t.Status.Terminal() {
			t.Status = loom.StatusCancelled
			t.Result = loom.ResultError
			t.Msg = p.Reason
			now := p.Now
			t.Ended = &now
			t.LeaseUntil = nil
			s.event(t, "task.cancelled", p.Now)
			out = append(out, t.Clone())
		}
		for _, id := range s.order {
			if c := s.tasks[id]; c.ParentID == t.ID {
				cancel(c)
			}
		}
	}
	cancel(t)
	return out, nil
}

// RetryTask implements store.Store.
func (s *Store) RetryTask(_ context.Context, p *store.RetryTaskParams) (*loom.TaskInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[p.ID]
	if !ok {
		return nil, fmt.Errorf("task %s: %w", p.ID, store.ErrNotFound)
	}
	if t.Status != loom.StatusFailed && t.Status != loom.StatusCancelled {
		return nil, fmt.Errorf("task %s is %s: %w", p.ID, t.Status, store.ErrConflict)
	}
	if p.Input != nil {
		t.Input = p.Input
	}
	budget := p.MaxAttempts
	if budget == 0 {
		budget = t.MaxAttempts
	}
	t.MaxAttempts = t.Attempt + budget
	t.Status = loom.StatusPending
	t.Result, t.Msg, t.Ended, t.Output = "", "", nil, nil
	t.RunAt = p.Now
	if !t.Timeout.After(p.Now) {
		t.Timeout = p.Now.Add(loom.DefaultTaskTimeout)
	}
	s.event(t, "task.retried", p.Now)
	return t.Clone(), nil
}

// ReapTasks implements store.Store.
func (s *Store) ReapTasks(_ context.Context, p *store.ReapTasksParams) (*store.ReapResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := &store.ReapResult{}
	for _, id := range s.order {
		t := s.tasks[id]
		if t.Status.Terminal() {
			continue
		}
		now := p.Now
		switch {
		case !t.Timeout.After(p.Now):
			t.Status, t.Result, t.Msg, t.Ended, t.LeaseUntil = loom.StatusFailed, loom.ResultError, "timed out", &now, nil
			s.event(t, "task.expired", p.Now)
			res.Expired = append(res.Expired, t.Clone())
		case t.Status == loom.StatusRunning && t.LeaseUntil != nil && t.LeaseUntil.Before(p.Now):
			t.Status, t.LeaseUntil, t.WorkerID, t.RunAt = loom.StatusPending, nil, "", p.Now
			s.event(t, "task.requeued", p.Now)
			res.Requeued = append(res.Requeued, t.Clone())
		}
	}
	return res, nil
}

// NextRunAt implements store.Store.
func (s *Store) NextRunAt(_ context.Context, queues []string) (time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var at time.Time
	ok := false
	for _, t := range s.tasks {
		if t.Status != loom.StatusPending || len(queues) > 0 && !contains(queues, t.Queue) {
			continue
		}
		if !ok || t.RunAt.Before(at) {
			at, ok = t.RunAt, true
		}
	}
	return at, ok, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// AppendLogs implements store.Store.
func (s *Store) AppendLogs(_ context.Context, chunks []store.LogChunk) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range chunks {
		c.Seq = int64(len(s.logs[c.TaskID]) + 1)
		s.logs[c.TaskID] = append(s.logs[c.TaskID], c)
	}
	return nil
}

// GetLogs implements store.Store.
func (s *Store) GetLogs(_ context.Context, p *store.GetLogsParams) ([]store.LogChunk, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.LogChunk
	for _, c := range s.logs[p.TaskID] {
		if (p.Attempt == 0 || c.Attempt == p.Attempt) && c.Seq > p.AfterSeq {
			out = append(out, c)
		}
	}
	return out, nil
}

// ListEvents implements store.Store.
func (s *Store) ListEvents(_ context.Context, p *store.ListEventsParams) ([]store.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Event
	for _, e := range s.events {
		if (p.TaskID == "" || e.TaskID == p.TaskID) && e.Seq > p.AfterSeq {
			out = append(out, e)
		}
	}
	return out, nil
}

// UpsertQueue implements store.Store.
func (s *Store) UpsertQueue(_ context.Context, q store.QueueConfig) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queues[q.Name] = q
	return nil
}

// ListQueues implements store.Store.
func (s *Store) ListQueues(_ context.Context) ([]store.QueueInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]*store.QueueInfo{}
	for n, q := range s.queues {
		m[n] = &store.QueueInfo{QueueConfig: q}
	}
	for _, t := range s.tasks {
		qi := m[t.Queue]
		if qi == nil {
			qi = &store.QueueInfo{QueueConfig: store.QueueConfig{Name: t.Queue}}
			m[t.Queue] = qi
		}
		switch t.Status {
		case loom.StatusPending:
			qi.Pending++
		case loom.StatusRunning:
			qi.Running++
		case loom.StatusCompleted:
			qi.Completed++
		case loom.StatusFailed:
			qi.Failed++
		case loom.StatusCancelled:
			qi.Cancelled++
		}
	}
	var out []store.QueueInfo
	for _, q := range m {
		out = append(out, *q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// UpsertWorker implements store.Store.
func (s *Store) UpsertWorker(_ context.Context, w store.WorkerInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.workers[w.ID] = w
	return nil
}

// ListWorkers implements store.Store.
func (s *Store) ListWorkers(_ context.Context, seenSince time.Time) ([]store.WorkerInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.WorkerInfo
	for _, w := range s.workers {
		if !w.LastHeartbeat.Before(seenSince) {
			out = append(out, w)
		}
	}
	return out, nil
}

// DeleteWorker implements store.Store.
func (s *Store) DeleteWorker(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.workers, id)
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error { return nil }

// SaveRun implements loom.StateManager; the engine does not use run state.
func (s *Store) SaveRun(context.Context, loom.RunState) error { return nil }

// SaveStep implements loom.StateManager.
func (s *Store) SaveStep(context.Context, string, loom.StepState) error { return nil }

// LoadRun implements loom.StateManager.
func (s *Store) LoadRun(_ context.Context, id string) (loom.RunState, error) {
	return loom.RunState{}, fmt.Errorf("run %s: %w", id, store.ErrNotFound)
}

// AcquireKey implements loom.IdempotencyStore (always acquired).
func (s *Store) AcquireKey(_ context.Context, key, runID string, now time.Time, ttl time.Duration) (loom.IdempotencyRecord, bool, error) {
	return loom.IdempotencyRecord{Key: key, RunID: runID, Status: loom.StatusRunning, LockedUntil: now.Add(ttl)}, true, nil
}

// CompleteKey implements loom.IdempotencyStore.
func (s *Store) CompleteKey(context.Context, string, *loom.Result, time.Time) error { return nil }

// ReleaseKey implements loom.IdempotencyStore.
func (s *Store) ReleaseKey(context.Context, string) error { return nil }
