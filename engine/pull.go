package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/store"
)

// Pull workers claim attempts from the engine themselves, through calls
// such as the server's HTTP worker protocol, instead of receiving them on
// the bus. Each attempt a pull worker claims is leased to that worker (its
// WorkerID is on the task), counted as started at once, and kept alive
// only by the worker's own heartbeats: a worker that goes silent loses
// the attempt to the reaper after LeaseDuration, and the task runs again
// with the next attempt number. Every later call for the lapsed attempt
// fails with ErrStaleLease.

// ErrStaleLease is returned by the pull-worker calls for an attempt the
// worker no longer holds: its lease lapsed and the reaper took it back,
// the task was cancelled or has ended, or another worker runs it now. It
// matches ErrConflict. The worker should stop the attempt and forget it.
var ErrStaleLease = fmt.Errorf("engine: the attempt is no longer this worker's (its lease lapsed, or the task was cancelled, ended or handed to another worker): %w", store.ErrConflict)

// DefaultMaxClaimWait bounds ClaimParams.Wait.
const DefaultMaxClaimWait = time.Minute

// ClaimParams ask for attempts for one pull worker.
type ClaimParams struct {
	// WorkerID names the worker; the claimed attempts are leased to it.
	// Required, at most 200 bytes. A worker keeps one id while it runs.
	WorkerID string
	// Hostname is shown in the worker list. Optional.
	Hostname string
	// Queues to take tasks from, each one of Config.PullQueues. Required.
	Queues []string
	// Max is the most tasks to return. Default 1, at most DispatchBatch.
	Max int
	// Wait is how long to wait for a task when none is ready (a long
	// poll). Zero returns at once; at most DefaultMaxClaimWait.
	Wait time.Duration
	// Stop, when closed, ends the wait at once, with no tasks: a server
	// shutting down answers its waiting claims. Default nil: never.
	Stop <-chan struct{}
}

// PullOutcome is a pull worker's result for one attempt it holds.
type PullOutcome struct {
	// WorkerID and Lease name the attempt; both must still hold.
	WorkerID string
	Lease    store.Lease
	// Err is nil for a success, or what went wrong: wrap it with
	// loom.Permanent for a failure no retry can help, or loom.RetryAfter
	// for the least wait before the next attempt.
	Err error
	// Output is what a successful attempt produced.
	Output loom.Values
	// Msg is the worker's account of a success (an error's text is Err's).
	Msg string
	// Started and Ended are when the worker ran the attempt, by its clock;
	// zero when it does not say.
	Started, Ended time.Time
}

// pullWorkers keeps what the engine knows of the pull workers that
// called it, to show them in the worker list: when first seen, where,
// which queues, and the tasks they run.
type pullWorkers struct {
	mu sync.Mutex
	m  map[string]*pullWorker
	// signal is closed, and replaced, whenever work may be ready: waiting
	// claims look again.
	signal chan struct{}
}

type pullWorker struct {
	hostname string
	queues   []string
	started  time.Time
	seen     time.Time
	running  map[string]bool
}

// wakePullers wakes every waiting claim.
func (e *Engine) wakePullers() {
	e.pull.mu.Lock()
	if e.pull.signal != nil {
		close(e.pull.signal)
		e.pull.signal = nil
	}
	e.pull.mu.Unlock()
}

// pullSignal returns the channel the next wakePullers closes.
func (e *Engine) pullSignal() <-chan struct{} {
	e.pull.mu.Lock()
	defer e.pull.mu.Unlock()
	if e.pull.signal == nil {
		e.pull.signal = make(chan struct{})
	}
	return e.pull.signal
}

// pullQueue returns the pull queue named name, or false.
func (e *Engine) pullQueue(name string) (Queue, bool) {
	for _, q := range e.cfg.PullQueues {
		if q.Name == name {
			return q, true
		}
	}
	return Queue{}, false
}

// Claim leases up to p.Max ready tasks of p.Queues to the pull worker
// p.WorkerID, waiting up to p.Wait for one when none is ready; it returns
// no tasks (and no error) when the wait ends empty. Each task comes back
// running in its new attempt, which counts as started. A claimed flow
// task is not returned: the engine advances it, and its steps are tasks
// of their own. Claim wakes on tasks submitted through this engine at
// once, on those of other processes sharing the store as its
// store.WorkListener announces them (else within PollInterval).
func (e *Engine) Claim(ctx context.Context, p *ClaimParams) ([]*loom.TaskInfo, error) {
	if err := e.checkOpen(); err != nil {
		return nil, err
	}
	if err := e.validateClaim(p); err != nil {
		return nil, err
	}
	limit := max(p.Max, 1)
	limit = min(limit, e.cfg.DispatchBatch)
	wait := min(max(p.Wait, 0), DefaultMaxClaimWait)
	deadline := e.clock.Now().Add(wait)
	e.seePuller(ctx, p.WorkerID, p.Hostname, p.Queues, nil, nil)
	for {
		woken := e.pullSignal()
		tasks, err := e.claimPull(ctx, p, limit)
		if err != nil || len(tasks) > 0 {
			if len(tasks) > 0 {
				e.seePuller(ctx, p.WorkerID, p.Hostname, p.Queues, ids(tasks), nil)
			}
			return tasks, err
		}
		left := deadline.Sub(e.clock.Now())
		if left <= 0 {
			return nil, nil
		}
		nap := min(left, e.cfg.PollInterval)
		if at, ok, err := e.store.NextRunAt(ctx, p.Queues); err == nil && ok {
			if d := at.Sub(e.clock.Now()); d > 0 && d < nap {
				nap = d
			}
		}
		t := e.clock.NewTimer(nap)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("engine: claim for %s: %w", p.WorkerID, ctx.Err())
		case <-p.Stop:
			t.Stop()
			return nil, nil
		case <-woken:
		case <-t.C():
		}
		t.Stop()
	}
}

// maxWorkerIDLen bounds ClaimParams.WorkerID.
const maxWorkerIDLen = 200

func (e *Engine) validateClaim(p *ClaimParams) error {
	switch {
	case p == nil || p.WorkerID == "":
		return fmt.Errorf("%w: a claim needs a worker id", ErrInvalid)
	case len(p.WorkerID) > maxWorkerIDLen:
		return fmt.Errorf("%w: worker id is %d bytes, longer than %d", ErrInvalid, len(p.WorkerID), maxWorkerIDLen)
	case len(p.Queues) == 0:
		return fmt.Errorf("%w: a claim needs at least one queue", ErrInvalid)
	case p.Max < 0:
		return fmt.Errorf("%w: max %d is negative", ErrInvalid, p.Max)
	}
	for _, q := range p.Queues {
		if _, ok := e.pullQueue(q); !ok {
			return fmt.Errorf("%w: queue %q is not served by pull workers here (loom server --http-queue %s)", ErrInvalid, q, q)
		}
	}
	return nil
}

// claimPull claims once from each queue in turn until it has limit tasks,
// marks the plain ones started, and hands the flows to the advancer.
func (e *Engine) claimPull(ctx context.Context, p *ClaimParams, limit int) ([]*loom.TaskInfo, error) {
	var out []*loom.TaskInfo
	for _, name := range p.Queues {
		if len(out) >= limit {
			break
		}
		q, _ := e.pullQueue(name)
		now := e.clock.Now()
		tasks, err := e.store.ClaimTasks(ctx, &store.ClaimTasksParams{
			Queue: q.Name, Limit: limit - len(out), WorkerID: p.WorkerID, Now: now,
			LeaseUntil: leaseUntil(e.cfg.LeaseDuration), MaxRunning: q.Concurrency, Brief: true,
		})
		if err != nil {
			return out, fmt.Errorf("engine: claim %s for %s: %w", q.Name, p.WorkerID, err)
		}
		var plain []*loom.TaskInfo
		for _, t := range tasks {
			if reg := e.lookup(t.Type); reg != nil && reg.flow != nil {
				e.startFlow(ctx, t)
				continue
			}
			plain = append(plain, t)
		}
		if len(plain) == 0 {
			continue
		}
		// A pull worker claims only what it runs at once: the attempt
		// counts from here, so that one whose lease lapses is re-run
		// under the next number and a late call for it is refused.
		leases := make([]store.Lease, len(plain))
		for i, t := range plain {
			leases[i] = store.Lease{ID: t.ID, Attempt: t.Attempt}
		}
		res, err := e.store.MarkStarted(ctx, &store.MarkStartedParams{Leases: leases, WorkerID: p.WorkerID})
		if err != nil {
			return out, fmt.Errorf("engine: mark claimed attempts started for %s: %w", p.WorkerID, err)
		}
		for i, r := range res {
			if r.Extended {
				out = append(out, plain[i])
			}
		}
	}
	return out, nil
}

// Heartbeat extends the lease of an attempt the pull worker holds by
// LeaseDuration from now and returns the new lease end, or ErrStaleLease.
func (e *Engine) Heartbeat(ctx context.Context, workerID string, l store.Lease) (time.Time, error) {
	// Leases count real time, whatever the engine's clock (see heartbeat).
	until := leaseUntil(e.cfg.LeaseDuration)
	res, err := e.store.ExtendLeases(ctx, &store.ExtendLeasesParams{Leases: []store.Lease{l}, LeaseUntil: until, WorkerID: workerID})
	if err != nil {
		return time.Time{}, fmt.Errorf("engine: heartbeat of %s attempt %d: %w", l.ID, l.Attempt, err)
	}
	if len(res) != 1 || !res[0].Extended {
		e.seePuller(ctx, workerID, "", nil, nil, []string{l.ID})
		return time.Time{}, fmt.Errorf("heartbeat of %s attempt %d: %w", l.ID, l.Attempt, ErrStaleLease)
	}
	e.seePuller(ctx, workerID, "", nil, []string{l.ID}, nil)
	return until, nil
}

// AppendLog appends data to the log of an attempt the pull worker holds,
// on stream (loom.LogStdout when empty, loom.LogStderr or loom.LogSystem),
// or returns ErrStaleLease. An unknown stream is ErrInvalid.
func (e *Engine) AppendLog(ctx context.Context, workerID string, l store.Lease, stream, data string) error {
	if !loom.ValidLogStream(stream) {
		return fmt.Errorf("%w: unknown log stream %q (stdout, stderr or system)", ErrInvalid, stream)
	}
	if err := e.holds(ctx, workerID, l); err != nil {
		return err
	}
	if data == "" {
		return nil
	}
	chunk := store.LogChunk{TaskID: l.ID, Attempt: l.Attempt, Time: e.clock.Now(), Stream: store.LogStream(stream), Data: data}
	if err := e.store.AppendLogs(ctx, []store.LogChunk{chunk}); err != nil {
		return fmt.Errorf("engine: append log of %s attempt %d: %w", l.ID, l.Attempt, err)
	}
	return nil
}

// ReportProgress keeps how far an attempt a pull worker holds has got.
// Reports are coalesced: at most a few a second of each attempt reach the
// store, the last before the result always; a report of an attempt the
// worker no longer holds is dropped (its next heartbeat says so).
func (e *Engine) ReportProgress(workerID string, l store.Lease, p loom.Progress) error {
	if workerID == "" || l.ID == "" || l.Attempt < 1 {
		return fmt.Errorf("%w: progress needs a worker id and a lease", ErrInvalid)
	}
	if p.Done < 0 || p.Total < 0 {
		return fmt.Errorf("%w: progress %d/%d is negative", ErrInvalid, p.Done, p.Total)
	}
	p.Message = loom.TrimProgressMessage(p.Message)
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = e.clock.Now()
	}
	e.pullProgress.put(pendingProgress{m: &bus.Message{ID: l.ID, Attempt: l.Attempt}, p: p, workerID: workerID})
	return nil
}

// holds checks that workerID runs attempt l of its task now.
func (e *Engine) holds(ctx context.Context, workerID string, l store.Lease) error {
	t, err := e.store.GetTask(ctx, l.ID)
	if err != nil {
		return fmt.Errorf("engine: task %s: %w", l.ID, err)
	}
	if t.Status != loom.StatusRunning || t.Attempt != l.Attempt || t.WorkerID != workerID {
		return fmt.Errorf("task %s attempt %d (now %s, attempt %d): %w", l.ID, l.Attempt, t.Status, t.Attempt, ErrStaleLease)
	}
	return nil
}

// Finish records a pull worker's result for an attempt it holds, with the
// task type's retry policy deciding whether a failure runs again, and
// returns the task as it is afterwards; ErrStaleLease when the worker no
// longer holds the attempt, in which case nothing is recorded.
func (e *Engine) Finish(ctx context.Context, p *PullOutcome) (*loom.TaskInfo, error) {
	if p == nil || p.WorkerID == "" || p.Lease.ID == "" {
		return nil, fmt.Errorf("%w: a result needs a worker id and a lease", ErrInvalid)
	}
	t, err := e.store.GetTask(ctx, p.Lease.ID)
	if err != nil {
		return nil, fmt.Errorf("engine: task %s: %w", p.Lease.ID, err)
	}
	if t.Status != loom.StatusRunning || t.Attempt != p.Lease.Attempt || t.WorkerID != p.WorkerID {
		return nil, fmt.Errorf("result of %s attempt %d (now %s, attempt %d): %w", p.Lease.ID, p.Lease.Attempt, t.Status, t.Attempt, ErrStaleLease)
	}
	if pp, ok := e.pullProgress.take(p.Lease); ok {
		// The attempt's last report, kept once the task has ended.
		e.setProgress(ctx, p.WorkerID, progressReports([]pendingProgress{pp}))
	}
	o := &outcome{id: t.ID, typ: t.Type, attempt: p.Lease.Attempt, maxAttempts: max(t.MaxAttempts, 1),
		output: p.Output, err: p.Err, msg: p.Msg, started: p.Started, ended: p.Ended, workerID: p.WorkerID}
	now := e.clock.Now()
	res, err := e.finish(ctx, []store.Outcome{e.decide(o, now)}, nil, now)
	if err != nil {
		return nil, fmt.Errorf("engine: record result of %s attempt %d: %w", t.ID, o.attempt, err)
	}
	e.seePuller(ctx, p.WorkerID, "", nil, nil, []string{t.ID})
	if len(res) != 1 || !res[0].Applied || res[0].Task == nil {
		return nil, fmt.Errorf("result of %s attempt %d: %w", t.ID, o.attempt, ErrStaleLease)
	}
	e.recorded.Add(1)
	e.ended(e.whole(ctx, res[0].Task))
	e.notify()
	return e.Get(ctx, t.ID)
}

// seePuller records that a pull worker called: its presence in the
// store's worker list, with the tasks it runs (adding started, removing
// done). Empty hostname and nil queues keep what is known.
func (e *Engine) seePuller(ctx context.Context, id, hostname string, queues, started, done []string) {
	now := e.clock.Now()
	e.pull.mu.Lock()
	if e.pull.m == nil {
		e.pull.m = make(map[string]*pullWorker)
	}
	w := e.pull.m[id]
	if w == nil {
		w = &pullWorker{started: now, running: make(map[string]bool)}
		e.pull.m[id] = w
	}
	if hostname != "" {
		w.hostname = hostname
	}
	if queues != nil {
		w.queues = slices.Clone(queues)
	}
	for _, t := range started {
		w.running[t] = true
	}
	for _, t := range done {
		delete(w.running, t)
	}
	w.seen = now
	info := store.WorkerInfo{ID: id, Hostname: w.hostname, Queues: w.queues, Started: w.started,
		LastHeartbeat: now, Running: slices.Sorted(maps.Keys(w.running))}
	// Workers silent for long are forgotten here; the store's list shows
	// only those seen lately anyway.
	for wid, o := range e.pull.m {
		if now.Sub(o.seen) > 10*e.cfg.LeaseDuration {
			delete(e.pull.m, wid)
		}
	}
	e.pull.mu.Unlock()
	if err := e.store.UpsertWorker(ctx, info); err != nil && !errors.Is(err, context.Canceled) {
		e.logger.Warn("engine: record pull worker", "worker", id, "err", err)
	}
}

func ids(ts []*loom.TaskInfo) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

// ReadyMessage is the ready bus message of a claimed attempt t, with
// lease as its lease token: the JSON task object a worker gets, from the
// bus or from a pull claim (docs/worker-protocol.md).
func ReadyMessage(t *loom.TaskInfo, lease string) (bus.Message, error) {
	m := bus.Message{
		ID: t.ID, Type: t.Type, Queue: t.Queue, Attempt: t.Attempt, Priority: t.Priority,
		Info: t.Info, Attributes: t.Attributes, Created: t.Created, Timeout: t.Timeout, MaxAttempts: t.MaxAttempts,
		Retry: t.Retry, Lease: lease, TraceParent: t.TraceParent,
	}
	if len(t.Input) > 0 {
		b, err := json.Marshal(t.Input)
		if err != nil {
			return m, fmt.Errorf("input of task %s is not JSON: %w", t.ID, err)
		}
		m.Input = b
	}
	return m, nil
}

// LeaseDuration is how long a claimed attempt stays a pull worker's
// without a heartbeat (Config.LeaseDuration).
func (e *Engine) LeaseDuration() time.Duration { return e.cfg.LeaseDuration }
