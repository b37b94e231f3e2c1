package engine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/auth"
	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/bus/memory"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/telemetry"
	"go.opentelemetry.io/otel/trace"
)

// Engine is loom's durable runtime over one store. Create it with New,
// register task types, start it with Run; every method is safe for
// concurrent use. Submit, Get, List, Cancel, Retry, Logs and Events work
// whether or not Run is running (a submitted task then waits in the store
// for an engine to run it).
type Engine struct {
	cfg    Config
	store  store.Store
	clock  loom.Clock
	logger *slog.Logger
	tracer trace.Tracer

	mu      sync.RWMutex
	types   map[string]*registration
	closed  bool
	ran     bool
	started time.Time

	// wake nudges the dispatcher: a task was submitted, capacity freed, a
	// retry fell due.
	wake chan struct{}
	// holder is the clock when it moves by itself (a test's fake clock),
	// else nil; wakeHold holds it from a wake until the dispatcher acted
	// on it (see notify).
	holder   loom.Holder
	wakeMu   sync.Mutex
	wakeHold func()
	// bus carries claimed attempts to workers and results back; ownBus
	// says the engine made it and closes it.
	bus    bus.Bus
	ownBus bool
	// worker is the embedded worker, nil when Workers is negative.
	worker *Worker
	// queues are the queues the dispatcher claims from: Config.Queues and
	// those learned from workers' announcements (learnQueue). external
	// holds the names of the queues served elsewhere. Both under qmu.
	qmu      sync.RWMutex
	queues   []Queue
	external map[string]bool
	// attemptBase is the parent of every embedded attempt's context;
	// stopAttempts cancels them all at a hard shutdown.
	attemptBase  context.Context
	stopAttempts context.CancelCauseFunc
	// maxLocal is how many attempts this engine holds claimed at once:
	// the workers' slots plus two claim batches, so that a claim overlaps
	// the recording of the previous one.
	maxLocal int

	// held is set by the dispatcher when tasks were due that its claims
	// did not take (a queue's concurrency cap, a pause): an ended task may
	// have made room for them.
	held atomic.Bool
	// passing is set by the dispatcher from the start of a claim pass
	// until it sleeps: an attempt recorded meanwhile must wake it, since
	// the pass may have counted that attempt's slot as taken and so left
	// due tasks unclaimed, without setting held.
	passing atomic.Bool

	// recorded counts outcomes the store applied, for Bench.
	recorded atomic.Int64

	// claimMu orders claims and reaps: see reapBatch.
	claimMu sync.Mutex
	// claiming, under claimMu, is true while the engine claims tasks:
	// from Run's start until its shutdown begins. Flow steps are claimed
	// by their insert only then (see claimOnInsert).
	claiming bool
	starts   startList
	inflight inflightSet
	waiters  waiterSet
	flows    advanceQueue
	feed     eventFeed
	runs     flowRuns
	// keyed and holderWaits track flows waiting for the task holding a
	// step's idempotency key (see step_key.go).
	keyed       keyedSteps
	holderWaits sync.WaitGroup
	// remoteStops tracks the cancels on their way to workers elsewhere;
	// workerCache spares the store their lookups.
	remoteStops sync.WaitGroup
	workerCache workerCache
	logs        *logBuffer
	// pullProgress coalesces the progress reports of pull workers.
	pullProgress *progressBuffer
	// pull keeps the pull workers seen and wakes their waiting claims.
	pull pullWorkers
	// unwatch stops feeding breaker events to Config.Metrics.
	unwatch func()
}

// New returns an engine configured by cfg, with the types in cfg.Handlers
// registered. It does no I/O: Run starts the work.
func New(cfg Config) (*Engine, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("engine: config: %w", err)
	}
	e := &Engine{
		cfg:    cfg,
		store:  cfg.Store,
		clock:  cfg.Clock,
		logger: cfg.Logger,
		tracer: telemetry.Tracer(cfg.TracerProvider),
		types:  make(map[string]*registration),
		wake:   make(chan struct{}, 1),
	}
	e.holder, _ = cfg.Clock.(loom.Holder)
	e.bus = cfg.Bus
	if e.bus == nil {
		b, err := memory.New(memory.Config{AckWait: cfg.AckWait})
		if err != nil {
			return nil, fmt.Errorf("engine: bus: %w", err)
		}
		e.bus, e.ownBus = b, true
	}
	e.unwatch = func() {}
	e.setupMetrics()
	e.maxLocal = max(cfg.Workers, 0) + 2*cfg.DispatchBatch
	e.attemptBase, e.stopAttempts = context.WithCancelCause(context.Background())
	e.external = make(map[string]bool)
	e.queues = slices.Clone(cfg.Queues)
	var local []string
	for _, q := range cfg.PullQueues {
		// Types only their workers know are accepted, as on external queues.
		e.external[q.Name] = true
	}
	for _, q := range cfg.Queues {
		if q.External {
			e.external[q.Name] = true
		} else {
			local = append(local, q.Name)
		}
	}
	e.inflight.init()
	if !e.ownBus {
		e.inflight.stopRemote = e.stopRemote
	}
	e.waiters.init()
	e.flows.init(e.holder)
	e.feed.init()
	e.logs = newLogBuffer(e)
	e.pullProgress = newProgressBuffer(cfg.Clock, DefaultProgressInterval, e.setPulledProgress)
	if cfg.Workers >= 0 && len(local) > 0 {
		w := newWorker(WorkerConfig{
			Bus: e.bus, Queues: local, Concurrency: cfg.Workers, AckWait: cfg.AckWait,
			ShutdownTimeout: cfg.ShutdownTimeout, Clock: cfg.Clock, Logger: cfg.Logger,
			LogWriter: e.logs.writer, Events: cfg.Events, TracerProvider: cfg.TracerProvider,
		}.withDefaults(), e.lookup)
		w.attemptCtx = e.attemptContext
		w.owns = e.ownsAttempt
		w.stopAttempts = e.stopAttempts
		// Embedded workers keep progress in the store at once, without a
		// trip over the bus.
		w.progress.send = func(ctx context.Context, ps []pendingProgress) {
			e.setProgress(ctx, e.cfg.WorkerID, progressReports(ps))
		}
		e.worker = w
	}
	for name, h := range cfg.handlers() {
		if err := e.Register(&loom.Task{Name: name, Handler: h}); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Register makes t's Name a task type this engine runs. A plain task runs
// its Handler on a worker under its Retry policy, Timeout (per attempt) and
// Breaker. A flow (t.Handler is a *loom.Flow) registers a flow type whose
// steps run as child tasks; the steps' tasks are registered too, under
// their own names. Registering the same *loom.Task twice is harmless; a
// different task under a taken name is ErrDuplicateType.
func (e *Engine) Register(t *loom.Task, opts ...RegisterOption) error {
	if t == nil || t.Name == "" || t.Handler == nil {
		return fmt.Errorf("%w: a task type needs a name and a handler", ErrInvalid)
	}
	reg := &registration{task: t, queue: loom.DefaultQueue}
	for _, o := range opts {
		o(reg)
	}
	if f, ok := t.Handler.(*loom.Flow); ok {
		reg.flow = f
	}
	e.mu.Lock()
	if old := e.types[t.Name]; old != nil {
		e.mu.Unlock()
		if old.task == t {
			return nil
		}
		return fmt.Errorf("%w: %q", ErrDuplicateType, t.Name)
	}
	e.types[t.Name] = reg
	e.mu.Unlock()
	e.cfg.Metrics.KnowTypes(t.Name)
	if reg.flow != nil {
		if err := e.registerSteps(reg.flow, opts); err != nil {
			e.mu.Lock()
			delete(e.types, t.Name)
			e.mu.Unlock()
			return err
		}
	}
	return nil
}

// lookup returns the registration of a type, or nil.
func (e *Engine) lookup(name string) *registration {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.types[name]
}

// maxAttemptsOf is the attempt budget a task type's retry policy gives.
func maxAttemptsOf(t *loom.Task) int {
	if t.Retry != nil && t.Retry.MaxAttempts > 1 {
		return t.Retry.MaxAttempts
	}
	return 1
}

// Types returns the names of the registered task types.
func (e *Engine) Types() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	names := make([]string, 0, len(e.types))
	for n := range e.types {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Submit creates a task and wakes the dispatcher. With an IdempotencyKey
// already taken it creates nothing and returns the existing task with
// created=false. Submitting a type that is not registered is
// ErrUnknownType.
func (e *Engine) Submit(ctx context.Context, p *SubmitParams) (task *loom.TaskInfo, created bool, err error) {
	res, err := e.SubmitMany(ctx, []*SubmitParams{p})
	if err != nil {
		return nil, false, err
	}
	return res[0].Task, res[0].Created, nil
}

// SubmitMany creates many tasks in one store transaction, the fast way to
// enqueue a batch. Results are in the order of ps. If any type is unknown
// nothing is created.
func (e *Engine) SubmitMany(ctx context.Context, ps []*SubmitParams) ([]SubmitResult, error) {
	if err := e.checkOpen(); err != nil {
		return nil, err
	}
	now := e.clock.Now()
	tasks := make([]*loom.TaskInfo, len(ps))
	spans := make([]trace.Span, 0, len(ps))
	for i, p := range ps {
		t, err := e.taskInfo(p, now)
		if err != nil {
			endSpans(spans, err)
			return nil, err
		}
		tasks[i] = t
		spans = append(spans, e.startSubmitSpan(ctx, t))
	}
	res, err := e.insertTasks(ctx, &store.InsertTasksParams{Tasks: tasks, Now: now, Actor: auth.Actor(ctx)})
	if err != nil {
		endSpans(spans, err)
		return nil, fmt.Errorf("engine: submit %d task(s): %w", len(ps), err)
	}
	out := make([]SubmitResult, len(res))
	for i, r := range res {
		out[i] = SubmitResult{Task: r.Task, Created: !r.Existing}
		endSubmitSpan(spans[i], r)
	}
	e.notify()
	return out, nil
}

// Admit reports whether Config.Admit lets p be submitted: nil, or an error
// wrapping ErrRefused. Submit, and Retry with new input, ask it too;
// callers that store a task template to submit later (schedules,
// triggers) ask it up front.
func (e *Engine) Admit(p *SubmitParams) error {
	if e.cfg.Admit == nil || p == nil {
		return nil
	}
	if err := e.cfg.Admit(p); err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return nil
}

// taskInfo turns submit parameters into the task object to insert.
func (e *Engine) taskInfo(p *SubmitParams, now time.Time) (*loom.TaskInfo, error) {
	if p == nil || p.Type == "" {
		return nil, fmt.Errorf("%w: a task needs a type", ErrInvalid)
	}
	if err := e.Admit(p); err != nil {
		return nil, err
	}
	reg := e.lookup(p.Type)
	if reg == nil {
		if !e.isExternal(p.Queue) {
			return nil, fmt.Errorf("engine: submit: %w %q", ErrUnknownType, p.Type)
		}
		// A type only the workers of an external queue know.
		reg = &registration{task: &loom.Task{Name: p.Type}, queue: p.Queue}
	}
	if err := p.Validate(now); err != nil {
		return nil, err
	}
	if reg.flow != nil {
		if err := checkInputs(p.Type, reg.flow, p.Input); err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
	}
	t := &loom.TaskInfo{
		ID: p.ID, Type: p.Type, Queue: p.Queue, Info: p.Info, Attributes: p.Attributes,
		Input: p.Input, Status: loom.StatusPending, Created: now, RunAt: p.RunAt,
		Priority: p.Priority, IdempotencyKey: p.IdempotencyKey, MaxAttempts: p.MaxAttempts, Retry: p.Retry,
	}
	if t.Queue == "" {
		t.Queue = reg.queue
	}
	if t.RunAt.IsZero() {
		t.RunAt = now
	}
	timeout := p.Timeout
	if timeout == 0 {
		timeout = loom.DefaultTaskTimeout
	}
	t.Timeout = now.Add(timeout)
	if t.MaxAttempts == 0 {
		t.MaxAttempts = maxAttemptsOf(reg.task)
	}
	if t.Retry != nil && t.MaxAttempts < 2 {
		return nil, fmt.Errorf("%w: a retry policy needs max_attempts of 2 or more; the task has %d attempt", ErrInvalid, t.MaxAttempts)
	}
	return t, nil
}

func (e *Engine) checkOpen() error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return ErrClosed
	}
	return nil
}

// Get returns one task, or an error matching ErrNotFound.
func (e *Engine) Get(ctx context.Context, id string) (*loom.TaskInfo, error) {
	t, err := e.store.GetTask(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("engine: get task %s: %w", id, err)
	}
	return t, nil
}

// List returns a page of tasks, newest first; nil p lists with the
// defaults (no filter, the store's default page size).
func (e *Engine) List(ctx context.Context, p *store.ListTasksParams) (*store.TaskPage, error) {
	if p == nil {
		p = &store.ListTasksParams{}
	}
	page, err := e.store.ListTasks(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("engine: list tasks: %w", err)
	}
	return page, nil
}

// Children returns the steps of a flow task, oldest first.
func (e *Engine) Children(ctx context.Context, id string) ([]*loom.TaskInfo, error) {
	cs, err := e.store.ListChildren(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("engine: list steps of %s: %w", id, err)
	}
	return cs, nil
}

// Cancel cancels a task that has not ended, and for a flow every step that
// has not ended; attempts running on this engine's workers are stopped
// through their context, and remote workers learn it at their next
// heartbeat. It returns the task as it is afterwards. Cancelling an ended
// task is ErrConflict.
func (e *Engine) Cancel(ctx context.Context, id, reason string) (*loom.TaskInfo, error) {
	if reason == "" {
		reason = "cancelled"
	}
	ts, err := e.store.CancelTask(ctx, &store.CancelTaskParams{ID: id, Reason: reason, Now: e.clock.Now(), Actor: auth.Actor(ctx)})
	if err != nil {
		return nil, fmt.Errorf("engine: cancel %s: %w", id, err)
	}
	var self *loom.TaskInfo
	for _, t := range ts {
		e.inflight.cancelTask(t.ID, loom.ErrCancelled)
		e.observeEnded(t)
		e.waiters.ended(t)
		if t.ID == id {
			self = t
		} else if t.ParentID != "" && t.ParentID != id {
			e.flows.pushEnded(t)
		}
	}
	e.runs.drop(id)
	if self != nil && self.ParentID != "" {
		e.flows.pushEnded(self)
	}
	e.feed.nudge()
	if self == nil {
		return e.Get(ctx, id)
	}
	return self, nil
}

// Retry runs an ended failed or cancelled task again with a fresh attempt
// budget; input, when non-nil, replaces its input. For a flow it re-runs
// the failed and cancelled steps and whatever depends on them, reusing the
// saved outputs of completed steps. Retrying a pending, running or
// completed task is ErrConflict.
func (e *Engine) Retry(ctx context.Context, id string, input loom.Values) (*loom.TaskInfo, error) {
	if err := e.checkOpen(); err != nil {
		return nil, err
	}
	t, err := e.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if t.Status != loom.StatusFailed && t.Status != loom.StatusCancelled {
		return nil, fmt.Errorf("engine: retry %s: task is %s: %w", id, t.Status, ErrConflict)
	}
	if input != nil {
		// New input is a new request to run the type: Admit judges it
		// like a submit's.
		if err := e.Admit(&SubmitParams{Type: t.Type, Queue: t.Queue, Input: input}); err != nil {
			return nil, fmt.Errorf("engine: retry %s: %w", id, err)
		}
	}
	if reg := e.lookup(t.Type); reg != nil && reg.flow != nil {
		if err := e.retrySteps(ctx, t, reg.flow, input); err != nil {
			return nil, fmt.Errorf("engine: retry steps of %s: %w", id, err)
		}
	} else if reg != nil && reg.fanOut != nil {
		if err := e.retryItems(ctx, t.ID); err != nil {
			return nil, fmt.Errorf("engine: retry items of %s: %w", id, err)
		}
	}
	t, err = e.store.RetryTask(ctx, &store.RetryTaskParams{ID: id, Input: input, Now: e.clock.Now(), Actor: auth.Actor(ctx)})
	if err != nil {
		return nil, fmt.Errorf("engine: retry %s: %w", id, err)
	}
	e.notify()
	return t, nil
}

// Wait blocks until the task has ended (or ctx is done) and returns it.
// It is told by the engine that records the outcome, without polling; a
// task ended by another process sharing the store is noticed within
// PollInterval.
func (e *Engine) Wait(ctx context.Context, id string) (*loom.TaskInfo, error) {
	ch, stop := e.waiters.add(id)
	defer stop()
	for {
		t, err := e.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if t.Status.Terminal() {
			return t, nil
		}
		// The poll is for tasks ended by another process: real time.
		timer := time.NewTimer(e.cfg.PollInterval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("engine: wait for %s: %w", id, ctx.Err())
		case t := <-ch:
			timer.Stop()
			return t, nil
		case <-timer.C:
		}
	}
}

// Logs returns a task's captured output. p names the task, so a nil p
// is ErrInvalid.
func (e *Engine) Logs(ctx context.Context, p *store.GetLogsParams) ([]store.LogChunk, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: logs need a task id", ErrInvalid)
	}
	cs, err := e.store.GetLogs(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("engine: logs of %s: %w", p.TaskID, err)
	}
	return cs, nil
}

// Events returns state changes in the order they happened: of one task,
// or of all tasks after a sequence number; nil p means every task's
// events from the start.
func (e *Engine) Events(ctx context.Context, p *store.ListEventsParams) ([]store.Event, error) {
	if p == nil {
		p = &store.ListEventsParams{}
	}
	evs, err := e.store.ListEvents(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("engine: events: %w", err)
	}
	return evs, nil
}

// Queues returns every queue with its settings and counts by status.
func (e *Engine) Queues(ctx context.Context) ([]store.QueueInfo, error) {
	qs, err := e.store.ListQueues(ctx)
	if err != nil {
		return nil, fmt.Errorf("engine: queues: %w", err)
	}
	return qs, nil
}

// Run starts the dispatcher, the recorder of results, heartbeat, reaper
// and embedded worker, resumes every running flow, and blocks until ctx is
// done. It then shuts down gracefully: it stops claiming, lets running
// handlers finish for up to ShutdownTimeout, records their outcomes, and
// releases the rest (claimed but not started, or stopped) back to pending
// so that nothing is lost. Attempts on External queues are left to their
// workers: a result that comes back before their lease lapses is still
// recorded by any engine on the store. Run returns nil after a clean
// shutdown. Run may be called once.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.closed || e.ran {
		e.mu.Unlock()
		return fmt.Errorf("engine: Run called twice or after Close: %w", ErrClosed)
	}
	e.ran = true
	e.mu.Unlock()

	// Starting up is short and is not abandoned half-way: a ctx done
	// meanwhile makes the shutdown below follow at once.
	start := context.WithoutCancel(ctx)
	for _, q := range slices.Concat(e.cfg.Queues, e.cfg.PullQueues) {
		if q.Concurrency > 0 {
			if err := e.store.UpsertQueue(start, store.QueueConfig{Name: q.Name, Concurrency: q.Concurrency}); err != nil {
				return fmt.Errorf("engine: register queue %q: %w", q.Name, err)
			}
		}
	}
	if err := e.upsertWorker(start); err != nil {
		return err
	}
	if err := e.resumeFlows(start); err != nil {
		return err
	}
	var feedFrom int64
	if e.cfg.Events != nil {
		// The feed emits what happens from now on, not the store's history.
		var err error
		if feedFrom, err = e.latestEventSeq(start); err != nil {
			return fmt.Errorf("engine: find the newest event: %w", err)
		}
	}
	results, err := e.bus.ConsumeDone(start, bus.ConsumeOptions{Group: ResultGroup, AckWait: e.cfg.AckWait})
	if err != nil {
		return fmt.Errorf("engine: consume results: %w", err)
	}
	defer results.Close()

	// bg outlives ctx through the shutdown: outcomes of attempts finishing
	// then are still recorded, their flows advanced, leases kept.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	// drain tells the recorder that no embedded worker runs any more: it
	// records what results are left on the bus and returns.
	drain, startDrain := context.WithCancel(bg)
	defer startDrain()
	var bgWG, workWG, completeWG, dispatchWG sync.WaitGroup
	goFn := func(wg *sync.WaitGroup, f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	goFn(&completeWG, func() { e.complete(bg, drain, results) })
	goFn(&bgWG, func() { e.advanceFlows(bg) })
	goFn(&bgWG, func() { e.logs.run(bg) })
	goFn(&bgWG, func() { e.pullProgress.run(bg) })
	goFn(&bgWG, func() { e.heartbeat(bg) })
	goFn(&bgWG, func() { e.reap(ctx) })
	goFn(&bgWG, func() { e.retain(ctx) })
	if e.cfg.Events != nil {
		goFn(&bgWG, func() { e.feedEvents(bg, feedFrom) })
	}
	workErr := make(chan error, 1)
	if e.worker != nil {
		goFn(&workWG, func() { workErr <- e.worker.Run(ctx) })
	}
	e.setClaiming(true)
	goFn(&dispatchWG, func() { e.dispatch(ctx) })
	if !e.ownBus {
		// Workers elsewhere can reach this engine's bus: hear them.
		c, err := e.bus.Consume(start, WorkersQueue, bus.ConsumeOptions{Group: AnnounceGroup, AckWait: e.cfg.AckWait})
		if err != nil {
			e.logger.Error("engine: consume worker announcements", "err", err)
		} else {
			defer c.Close()
			goFn(&dispatchWG, func() { e.consumeAnnouncements(ctx, c) })
		}
	}
	if l, ok := e.store.(store.WorkListener); ok {
		goFn(&dispatchWG, func() { e.listenForWork(ctx, l) })
	}

	<-ctx.Done()
	// Stop claiming, then let the worker finish or stop its handlers.
	e.setClaiming(false)
	dispatchWG.Wait()
	workWG.Wait()
	if e.worker != nil {
		if err := <-workErr; err != nil {
			e.logger.Error("engine: embedded worker", "err", err)
		}
	}
	// Record what the worker reported, then release what it did not.
	startDrain()
	completeWG.Wait()
	e.releaseLocal(bg)
	stopBG()
	bgWG.Wait()
	e.holderWaits.Wait()
	e.remoteStops.Wait()
	if err := e.store.DeleteWorker(context.WithoutCancel(ctx), e.cfg.WorkerID); err != nil {
		e.logger.Warn("engine: unregister worker", "err", err)
	}
	return nil
}

// setClaiming starts or stops the claims of flow steps by their insert;
// once it returns false, none is under way.
func (e *Engine) setClaiming(on bool) {
	e.claimMu.Lock()
	e.claiming = on
	e.claimMu.Unlock()
}

// handlerHoldLimit is how long of real time a running handler holds a
// clock that moves by itself (loom.Holder, a test's fake clock under
// AutoAdvance): long enough for the real calls of a test (an HTTP request
// to a local server), short enough that a handler waiting for its context
// to time out still sees the timeout soon.
const handlerHoldLimit = 250 * time.Millisecond

// ResultGroup is the consumer group in which engines take done tasks off
// the bus. Other listeners (a taskmaster that starts work when work
// finishes) use a group of their own, so that each sees every result.
const ResultGroup = "engine"

// releaseLocal hands back every attempt of this engine's own queues that
// has no recorded outcome: claimed but never started, or stopped by the
// shutdown. The tasks go back to pending at once.
func (e *Engine) releaseLocal(ctx context.Context) {
	as := e.inflight.locals()
	if len(as) == 0 {
		return
	}
	batch := make([]*outcome, len(as))
	for i, a := range as {
		batch[i] = &outcome{id: a.lease.ID, typ: a.typ, attempt: a.lease.Attempt, maxAttempts: a.maxAttempts,
			released: true, unstarted: !a.began.Load()}
	}
	e.record(ctx, batch)
}

// attemptContext is the embedded worker's hook to the context of the
// attempt a message carries: cancelled when the task is cancelled or
// expires, its lease is lost, or the engine stops hard. The worker calls
// it as the handler starts, which is how the engine learns that the
// attempt started.
func (e *Engine) attemptContext(m *bus.Message) context.Context {
	a := e.inflight.get(store.Lease{ID: m.ID, Attempt: m.Attempt})
	if a == nil {
		return nil
	}
	if !a.began.Swap(true) {
		if a.suspect {
			e.markStarted(a.ctx, []*attempt{a})
		} else {
			e.starts.add(a)
		}
	}
	return a.ctx
}

// ownsAttempt reports whether m is an attempt of this engine's own queues
// that it still holds: one its shutdown releases in the store, so that
// the worker drops the message instead of handing it back to the bus.
func (e *Engine) ownsAttempt(m *bus.Message) bool {
	a := e.inflight.get(store.Lease{ID: m.ID, Attempt: m.Attempt})
	return a != nil && a.local
}

// upsertWorker records this engine's worker in the store.
func (e *Engine) upsertWorker(ctx context.Context) error {
	host, _ := os.Hostname()
	qs := e.queueList()
	queues := make([]string, len(qs))
	for i, q := range qs {
		queues[i] = q.Name
	}
	now := e.clock.Now()
	if e.started.IsZero() {
		e.started = now
	}
	err := e.store.UpsertWorker(ctx, store.WorkerInfo{
		ID: e.cfg.WorkerID, Hostname: host, Queues: queues, Started: e.started, LastHeartbeat: now,
	})
	if err != nil {
		return fmt.Errorf("engine: register worker: %w", err)
	}
	return nil
}

// Close releases the engine, and the bus if the engine made it: later
// calls fail with ErrClosed. It does not close the store or a bus it was
// given. Call it after Run has returned.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.unwatch()
	e.stopAttempts(ErrClosed)
	// A wake Run never acted on must not hold a fake clock for good.
	e.takeWakeHold()()
	if e.ownBus {
		if err := e.bus.Close(); err != nil {
			return fmt.Errorf("engine: close bus: %w", err)
		}
	}
	return nil
}
