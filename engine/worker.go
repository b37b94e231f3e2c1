package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/bus/memory"
	loomrt "github.com/loomhq/loom/runtime"
	"github.com/loomhq/loom/telemetry"
	"go.opentelemetry.io/otel/trace"
)

// WorkerBus is the part of a bus a worker needs: ready tasks in, done tasks
// out.
type WorkerBus interface {
	bus.Subscriber
	bus.DonePublisher
}

// WorkerConfig configures a Worker. Only Bus is required; every zero value
// means the default stated on its field.
type WorkerConfig struct {
	// Bus is where the worker takes ready tasks and returns done ones.
	// Required. The worker does not close it.
	Bus WorkerBus
	// Handlers are the task types the worker runs, by name. The built-in
	// exec and http types (runtime.Builtins) are there too unless a
	// handler of the same name replaces them; a nil handler under such a
	// name leaves the built-in out.
	Handlers map[string]loom.Handler
	// Tasks are task types whose per-attempt Timeout and Breaker the worker
	// honours. Their Retry policy is not the worker's business: the engine
	// that records the outcome applies it. A name in both Tasks and
	// Handlers is an error.
	Tasks []*loom.Task
	// Queues are the queues the worker consumes. Default ["default"].
	Queues []string
	// Group is the consumer group the worker joins on every queue; workers
	// of one group share the queue's tasks. Default bus.DefaultGroup
	// ("workers").
	Group string
	// Concurrency is how many handlers run at once. Default 4×GOMAXPROCS
	// (handlers are usually I/O-bound).
	Concurrency int
	// AckWait is how long a task may stay with the worker, without word
	// from it, before the bus hands it to another. While a handler runs the
	// worker tells the bus so (Delivery.InProgress) every third of the
	// AckWait, so a handler may run longer than it; a worker that dies or
	// hangs loses its tasks after it. Default the bus's own default.
	AckWait time.Duration
	// ShutdownTimeout is how long Run, once its context is done, lets
	// running handlers finish before it stops them and hands their tasks
	// back to the bus. Default 10s.
	ShutdownTimeout time.Duration
	// Clock is the source of time for deadlines. Default loom.SystemClock.
	Clock loom.Clock
	// Logger receives the worker's own logs. Default slog.Default().
	Logger *slog.Logger
	// LogWriter returns where one attempt's handler output goes. Default:
	// discarded (an engine's embedded workers keep it in the store).
	LogWriter func(taskID string, attempt int) io.Writer
	// Events receives the circuit breaker events of the worker's task
	// types: breaker state lives in the process that runs the handler.
	// Default: none.
	Events *loom.EventEmitter
	// ID names the worker on the bus. When set, and Bus can publish, the
	// worker announces itself on WorkersQueue every AnnounceInterval, so
	// that the servers on the bus list it and learn its queues. At most
	// bus.MaxNameLen bytes of a queue name's characters; DefaultWorkerID
	// makes one. Default: none, the worker does not announce itself (an
	// engine's embedded worker).
	ID string
	// Version is the worker's build, reported in its announcements.
	Version string
	// AnnounceInterval is how often the worker announces itself. Default
	// DefaultAnnounceInterval (5s).
	AnnounceInterval time.Duration
	// TracerProvider makes a span for every attempt, the child of the
	// span its message's TraceParent names; the handler's context carries
	// it (an http task sends it on as a traceparent header). Default:
	// OpenTelemetry's global provider, a no-op unless one was installed.
	TracerProvider trace.TracerProvider
}

// withDefaults returns c with every zero field set to its default.
func (c WorkerConfig) withDefaults() WorkerConfig {
	if len(c.Queues) == 0 {
		c.Queues = []string{loom.DefaultQueue}
	}
	if c.Group == "" {
		c.Group = bus.DefaultGroup
	}
	if c.Concurrency == 0 {
		c.Concurrency = 4 * runtime.GOMAXPROCS(0)
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.AnnounceInterval == 0 {
		c.AnnounceInterval = DefaultAnnounceInterval
	}
	if c.Clock == nil {
		c.Clock = loom.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.LogWriter == nil {
		c.LogWriter = func(string, int) io.Writer { return io.Discard }
	}
	return c
}

func (c WorkerConfig) validate() error {
	switch {
	case c.Bus == nil:
		return fmt.Errorf("%w: WorkerConfig.Bus is required", ErrInvalid)
	case c.Concurrency < 0:
		return fmt.Errorf("%w: negative Concurrency", ErrInvalid)
	case c.AckWait < 0, c.ShutdownTimeout < 0, c.AnnounceInterval < 0:
		return fmt.Errorf("%w: durations must not be negative", ErrInvalid)
	}
	if c.ID != "" {
		if err := bus.ValidateQueue(c.ID); err != nil {
			return fmt.Errorf("%w: worker id %q: %w", ErrInvalid, c.ID, err)
		}
	}
	for _, q := range c.Queues {
		if err := bus.ValidateQueue(q); err != nil {
			return fmt.Errorf("%w: queue %q: %w", ErrInvalid, q, err)
		}
		if q == WorkersQueue {
			return fmt.Errorf("%w: queue %q is where workers announce themselves, not a task queue", ErrInvalid, q)
		}
	}
	return nil
}

// Worker runs tasks it receives from a bus and sends their results back,
// without a store: what runs on machines other than the engine's (loom
// worker), and, inside an engine, its embedded workers. A Worker is a
// seed-003 worker: it reads ready task objects from its queues, runs the
// handler of their type, and answers with the done task object, result
// "complete" or "error". The engine that published the task records the
// result exactly once per attempt, whatever the bus delivers twice.
//
// A Worker cannot learn that a task was cancelled while it runs; its result
// is then simply not recorded. Embedded workers can, through the engine.
type Worker struct {
	cfg    WorkerConfig
	lookup func(typ string) *registration
	tracer trace.Tracer

	// attemptCtx, set for an engine's embedded workers, returns the context
	// the engine cancels the attempt with (task cancelled, lease lost,
	// shutdown); nil means the worker's own.
	attemptCtx func(m *bus.Message) context.Context
	// owns, set for embedded workers, reports whether the engine holds the
	// attempt a message carries and releases it in the store itself when
	// the worker gives it up: such a message is dropped, not handed back
	// to the bus, where another worker could run the released attempt.
	owns func(m *bus.Message) bool
	// stopAttempts, set for embedded workers, cancels every attempt
	// context attemptCtx hands out, at a hard stop.
	stopAttempts func(cause error)

	// started is when Run began, for the worker's announcements.
	started time.Time

	// base is the context of every handler; stopBase cancels it with
	// errShutdown when the shutdown grace period is over.
	base     context.Context
	stopBase context.CancelCauseFunc

	// idle counts handler slots free; each receiver asks the bus for at
	// most that many tasks. freed wakes receivers when a slot frees up.
	idle  atomic.Int64
	freed []chan struct{}
	// handedBack counts the tasks handed back to the bus while stopping.
	handedBack atomic.Int64
	// nudge asks the announcer for an announcement soon (nudgeAnnounce).
	nudge    chan struct{}
	jobs     chan job
	stopping atomic.Bool
	// results carries the handlers' done messages to publishResults.
	results chan result
	// progress coalesces the handlers' progress reports and sends them:
	// as progress messages on the bus, or, in an engine, to its store.
	progress *progressBuffer

	// running holds the attempts whose handlers run here, with any further
	// deliveries of the same attempt that arrived meanwhile (the bus
	// redelivered it, a delivery's extension came too late): those are
	// settled with the first, never run a second time.
	mu      sync.Mutex
	running map[attemptKey]*runningAttempt
}

// job is a received delivery on its way to a handler slot, kept alive
// (keepAlive) from the moment it was received until stop is called.
type job struct {
	d    bus.Delivery
	stop func()
}

// attemptKey names one attempt of one task.
type attemptKey struct {
	id      string
	attempt int
}

// runningAttempt is an attempt running on a worker, with the duplicate
// deliveries of it the worker holds, each kept alive until settled.
type runningAttempt struct {
	dups  []bus.Delivery
	stops []func()
	// cancel stops the attempt's handler, once it runs: a server asked
	// (see stopAttempt).
	cancel context.CancelCauseFunc
}

// NewWorker returns a worker configured by cfg. It does no I/O: Run starts
// the work.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("engine: worker config: %w", err)
	}
	types := make(map[string]*registration)
	for name, h := range loomrt.Builtins() {
		types[name] = &registration{task: &loom.Task{Name: name, Handler: h}}
	}
	for name, h := range cfg.Handlers {
		if h == nil && builtin(name) {
			delete(types, name)
			continue
		}
		if name == "" || h == nil {
			return nil, fmt.Errorf("engine: worker config: %w: Handlers has an empty name or nil handler", ErrInvalid)
		}
		types[name] = &registration{task: &loom.Task{Name: name, Handler: h}}
	}
	for _, t := range cfg.Tasks {
		if t == nil || t.Name == "" || t.Handler == nil {
			return nil, fmt.Errorf("engine: worker config: %w: a task needs a name and a handler", ErrInvalid)
		}
		if _, ok := cfg.Handlers[t.Name]; ok {
			return nil, fmt.Errorf("engine: worker config: %w: %q is in both Tasks and Handlers", ErrDuplicateType, t.Name)
		}
		types[t.Name] = &registration{task: t}
	}
	return newWorker(cfg, func(typ string) *registration { return types[typ] }), nil
}

// newWorker returns a worker that finds its task types with lookup; cfg
// has its defaults.
func newWorker(cfg WorkerConfig, lookup func(string) *registration) *Worker {
	w := &Worker{cfg: cfg, lookup: lookup, running: make(map[attemptKey]*runningAttempt), tracer: telemetry.Tracer(cfg.TracerProvider)}
	w.freed = make([]chan struct{}, len(cfg.Queues))
	for i := range w.freed {
		w.freed[i] = make(chan struct{}, 1)
	}
	// Each receiver may take up to Concurrency tasks at once, so the jobs
	// channel never blocks a receiver for long.
	w.jobs = make(chan job, cfg.Concurrency*len(cfg.Queues))
	w.idle.Store(int64(cfg.Concurrency))
	w.nudge = make(chan struct{}, 1)
	w.progress = newProgressBuffer(cfg.Clock, DefaultProgressInterval, w.publishProgress)
	return w
}

// publishProgress sends progress reports as progress messages on the bus,
// with the done tasks, to the engine that keeps them.
func (w *Worker) publishProgress(ctx context.Context, ps []pendingProgress) {
	if err := w.cfg.Bus.PublishDone(ctx, progressMessages(ps)...); err != nil && !errors.Is(err, bus.ErrClosed) && ctx.Err() == nil {
		w.cfg.Logger.Warn("engine: worker: publish progress", "n", len(ps), "err", err)
	}
}

// Run consumes the worker's queues and runs their tasks until ctx is done.
// Then it stops taking tasks, hands back those it took but did not start,
// lets running handlers finish for up to ShutdownTimeout, and stops the
// rest; their tasks go back to the bus (and, through the engine's lease,
// to another worker). It returns nil after a clean shutdown, or the error
// that kept it from consuming. Run may be called once.
func (w *Worker) Run(ctx context.Context) error {
	consumers := make([]bus.Consumer, 0, len(w.cfg.Queues))
	defer func() {
		for _, c := range consumers {
			_ = c.Close()
		}
	}()
	for _, q := range w.cfg.Queues {
		c, err := w.cfg.Bus.Consume(context.WithoutCancel(ctx), q, bus.ConsumeOptions{Group: w.cfg.Group, AckWait: w.cfg.AckWait})
		if err != nil {
			return fmt.Errorf("engine: worker: consume %q: %w", q, err)
		}
		consumers = append(consumers, c)
	}
	w.base, w.stopBase = context.WithCancelCause(context.WithoutCancel(ctx))
	defer w.stopBase(nil)
	w.started = time.Now()
	announcer := w.announcer()
	state := make(chan string, 1)
	if announcer != nil {
		control, err := w.cfg.Bus.Consume(context.WithoutCancel(ctx), ControlQueue(w.cfg.ID), bus.ConsumeOptions{Group: controlGroup})
		if err != nil {
			return fmt.Errorf("engine: worker: consume control queue: %w", err)
		}
		actx, stop := context.WithCancel(context.WithoutCancel(ctx))
		announced, controlled := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(announced)
			w.announceLoop(actx, announcer, state)
		}()
		go func() {
			defer close(controlled)
			w.consumeControl(actx, control)
		}()
		defer func() {
			stop()
			<-announced
			<-controlled
			_ = control.Close()
			w.announce(context.WithoutCancel(ctx), announcer, WorkerStopped)
		}()
	}

	var recvWG, poolWG sync.WaitGroup
	for i, c := range consumers {
		recvWG.Add(1)
		go func() {
			defer recvWG.Done()
			w.receive(ctx, w.cfg.Queues[i], c, w.freed[i])
		}()
	}
	if _, inProcess := w.cfg.Bus.(*memory.Bus); !inProcess {
		// Over a network bus results go out in batches (publishResults);
		// in process a publish costs less than the hand-over would.
		w.results = make(chan result, w.cfg.Concurrency)
		published := make(chan struct{})
		go func() {
			defer close(published)
			w.publishResults(w.results)
		}()
		// After the handlers: they hand their results over until they
		// return.
		defer func() { close(w.results); <-published }()
	}
	progressCtx, stopProgress := context.WithCancel(context.WithoutCancel(ctx))
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		w.progress.run(progressCtx)
	}()
	// After the handlers, before the results: their reports go out with
	// their done messages.
	defer func() { stopProgress(); <-progressDone }()
	for range w.cfg.Concurrency {
		poolWG.Add(1)
		go func() {
			defer poolWG.Done()
			w.work()
		}()
	}

	<-ctx.Done()
	w.stopping.Store(true)
	state <- WorkerDraining
	recvWG.Wait()
	close(w.jobs)
	if w.cfg.ID != "" {
		w.cfg.Logger.Info("worker draining: taking no more tasks, letting running ones finish",
			"running", w.runningCount(), "grace", w.cfg.ShutdownTimeout)
	}
	finished := make(chan struct{})
	go func() { poolWG.Wait(); close(finished) }()
	t := w.cfg.Clock.NewTimer(w.cfg.ShutdownTimeout)
	select {
	case <-finished:
	case <-t.C():
		if w.cfg.ID != "" {
			w.cfg.Logger.Warn("worker grace period over: stopping the tasks still running and handing them back",
				"running", w.runningCount(), "grace", w.cfg.ShutdownTimeout)
		}
		w.stopBase(errShutdown)
		if w.stopAttempts != nil {
			w.stopAttempts(errShutdown)
		}
		<-finished
	}
	t.Stop()
	if w.cfg.ID != "" {
		w.cfg.Logger.Info("worker drained", "handed_back", w.handedBack.Load())
	}
	return nil
}

// runningCount is how many attempts run on the worker now.
func (w *Worker) runningCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running)
}

// receive takes tasks of one queue, as many at a time as there are idle
// handler slots, until ctx is done.
func (w *Worker) receive(ctx context.Context, queue string, c bus.Consumer, freed <-chan struct{}) {
	for {
		n := w.idle.Load()
		if n <= 0 {
			select {
			case <-ctx.Done():
				return
			case <-freed:
				continue
			}
		}
		ds, err := c.Receive(ctx, int(n))
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, bus.ErrClosed) || errors.Is(err, io.EOF) {
				return
			}
			w.cfg.Logger.Error("engine: worker: receive", "queue", queue, "err", err)
			if loom.Sleep(ctx, w.cfg.Clock, 100*time.Millisecond) != nil {
				return
			}
			continue
		}
		w.idle.Add(-int64(len(ds)))
		for _, d := range ds {
			w.jobs <- job{d: d, stop: w.keepAlive(d)}
		}
	}
}

// work runs tasks from the jobs channel until it is closed; once the
// worker is stopping, it hands them back unstarted.
func (w *Worker) work() {
	for j := range w.jobs {
		switch {
		case w.stopping.Load():
			w.handBack(j.d)
			j.stop()
		case w.join(j):
			// A duplicate of an attempt running here: settled with it.
		default:
			w.runDelivery(j.d)
			j.stop()
		}
		w.idle.Add(1)
		for _, f := range w.freed {
			select {
			case f <- struct{}{}:
			default:
			}
		}
	}
}

// join records j's attempt as running here and reports false, or, if it
// already runs here, keeps j alive alongside it and reports true.
func (w *Worker) join(j job) bool {
	k := attemptKey{j.d.ID, j.d.Attempt}
	w.mu.Lock()
	defer w.mu.Unlock()
	if r := w.running[k]; r != nil {
		r.dups = append(r.dups, j.d)
		r.stops = append(r.stops, j.stop)
		return true
	}
	w.running[k] = &runningAttempt{}
	w.nudgeAnnounce()
	return false
}

// settle acknowledges d, or hands it back, together with the duplicates of
// its attempt that arrived while it ran.
func (w *Worker) settle(d bus.Delivery, ack bool) {
	for _, d := range w.release(d) {
		if !ack {
			w.handBack(d)
		} else if err := d.Ack(context.Background()); err != nil && !errors.Is(err, bus.ErrClosed) {
			w.cfg.Logger.Warn("engine: worker: acknowledge task", "task", d.ID, "err", err)
		}
	}
}

// release forgets d's attempt as running here and returns d with the
// duplicates of it that arrived while it ran, for the caller to settle.
func (w *Worker) release(d bus.Delivery) []bus.Delivery {
	k := attemptKey{d.ID, d.Attempt}
	w.mu.Lock()
	r := w.running[k]
	delete(w.running, k)
	w.mu.Unlock()
	ds := []bus.Delivery{d}
	if r != nil {
		for _, stop := range r.stops {
			stop()
		}
		ds = append(ds, r.dups...)
	}
	return ds
}

// handBack returns a task to the bus without a result, or drops it if the
// engine that holds it releases it.
func (w *Worker) handBack(d bus.Delivery) {
	settle := func() error { return d.Nack(context.Background(), 0) }
	if w.owns != nil && w.owns(&d.Message) {
		settle = func() error { return d.Ack(context.Background()) }
	}
	if w.stopping.Load() {
		w.handedBack.Add(1)
		if w.cfg.ID != "" {
			w.cfg.Logger.Info("worker handing a task back to the bus", "task", d.ID, "attempt", d.Attempt)
		}
	}
	if err := settle(); err != nil && !errors.Is(err, bus.ErrClosed) {
		w.cfg.Logger.WarnContext(logContext(&d.Message), "engine: worker: hand back task", "task", d.ID, "err", err)
	}
}

// runDelivery runs one task and reports its result on the bus, then
// acknowledges the ready message: a crash in between means the task is
// delivered again, and the store records only one result per attempt.
func (w *Worker) runDelivery(d bus.Delivery) {
	m := &d.Message
	started := w.cfg.Clock.Now()
	report, settleProgress := w.progress.attempt(m)
	out, err := w.run(m, started, report)
	lastProgress, _ := settleProgress()
	if errors.Is(err, errShutdown) {
		w.settle(d, false)
		return
	}
	if errors.Is(err, errLeaseLost) {
		// The engine gave the attempt up: it has no result to report, and
		// its message no use to anyone.
		w.settle(d, true)
		return
	}
	ended := w.cfg.Clock.Now()
	done := *m
	done.Started, done.Ended = &started, &ended
	done.Progress = lastProgress
	if err == nil {
		done.Result = bus.ResultComplete
		if len(out) > 0 {
			b, merr := json.Marshal(out)
			if merr != nil {
				err = loom.Permanent(fmt.Errorf("output is not JSON: %w", merr))
			} else {
				done.Output = b
			}
		}
	}
	if err != nil {
		done.Result, done.Msg, done.Output = bus.ResultError, err.Error(), nil
		_, retry := (&loom.RetryPolicy{MaxAttempts: 2}).Next(1, err)
		done.Permanent = !retry
		var hint loom.RetryAfterHint
		if errors.As(err, &hint) && hint.RetryAfter() > 0 {
			// Rounded up: a hint of 1.2 ms must not turn into an earlier retry.
			done.RetryAfterMS = int64((hint.RetryAfter() + time.Millisecond - 1) / time.Millisecond)
		}
	}
	if w.results != nil {
		w.report(done, d)
		return
	}
	if perr := w.cfg.Bus.PublishDone(context.Background(), done); perr != nil {
		if !errors.Is(perr, bus.ErrClosed) {
			w.cfg.Logger.ErrorContext(logContext(m), "engine: worker: publish result", "task", m.ID, "attempt", m.Attempt, "err", perr)
		}
		w.settle(d, false)
		return
	}
	w.settle(d, true)
}

// keepAlive extends d's AckWait every third of it until the returned
// function is called, so that the bus does not hand the task to another
// worker while this one holds it: from its receipt, through the wait for
// a handler slot and the handler's run, until it is settled. It counts real time, whatever the
// worker's Clock: the bus's AckWait does.
func (w *Worker) keepAlive(d bus.Delivery) (stop func()) {
	every := d.AckWait / 3
	if every <= 0 {
		return func() {}
	}
	var (
		mu      sync.Mutex
		stopped bool
		t       *time.Timer
	)
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(every, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		if err := d.InProgress(context.Background()); err != nil && !errors.Is(err, bus.ErrClosed) {
			w.cfg.Logger.WarnContext(logContext(&d.Message), "engine: worker: extend task's delivery", "task", d.ID, "err", err)
		}
		t.Reset(every)
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}

// run runs the handler of m's type with its context (cancelled on task
// cancel, lost lease or shutdown when the engine can tell, and at the
// task's deadline), its attempt info, its log writer and report, where its
// progress reports go. errShutdown means it was stopped by a shutdown and
// has no result.
func (w *Worker) run(m *bus.Message, started time.Time, report loom.ProgressFunc) (loom.Values, error) {
	reg := w.lookup(m.Type)
	if reg == nil || reg.flow != nil {
		return nil, loom.Permanent(fmt.Errorf("%w %q on this worker", ErrUnknownType, m.Type))
	}
	in := loom.Values{}
	if len(m.Input) > 0 && string(m.Input) != "null" {
		if err := json.Unmarshal(m.Input, &in); err != nil {
			return nil, loom.Permanent(fmt.Errorf("input is not a JSON object: %w", err))
		}
	}
	base := w.base
	if w.attemptCtx != nil {
		if c := w.attemptCtx(m); c != nil {
			base = c
		}
	}
	base, stopAttempt := context.WithCancelCause(base)
	defer stopAttempt(nil)
	w.mu.Lock()
	if r := w.running[attemptKey{m.ID, m.Attempt}]; r != nil {
		r.cancel = stopAttempt
	}
	w.mu.Unlock()
	if cause := context.Cause(base); cause != nil {
		// Cancelled, or stopped, before it started.
		return nil, w.stopped(cause)
	}
	// The task's deadline, and the type's per-attempt timeout, whichever
	// comes first.
	deadline := time.Duration(1<<63 - 1)
	if !m.Timeout.IsZero() {
		deadline = m.Timeout.Sub(started)
	}
	if to := reg.task.Timeout; to > 0 && to < deadline {
		deadline = to
	}
	ctx := base
	var cancel context.CancelFunc = func() {}
	if deadline < 24*365*time.Hour {
		ctx, cancel = loom.WithTimeout(ctx, w.cfg.Clock, deadline)
	}
	defer cancel()
	ctx = loom.ContextWithAttempt(ctx, loom.AttemptInfo{RunID: m.ID, Attempt: m.Attempt, MaxAttempts: m.MaxAttempts})
	ctx = loom.ContextWithLogWriter(ctx, w.cfg.LogWriter(m.ID, m.Attempt))
	ctx = loom.ContextWithProgress(ctx, report)

	// A clock hold the attempt carries (see Engine.attemptContext) is let
	// go if the handler blocks for long on something other than the clock,
	// and taken again once it returns, for the recording of its result.
	ctx, span := startAttemptSpan(ctx, w.tracer, m)
	stopPatience := loom.ClockHoldFrom(ctx).PauseAfter(handlerHoldLimit)
	out, err := w.callHandler(ctx, reg, in)
	stopPatience()
	endSpan(span, err)
	switch {
	case err == nil && ctx.Err() == nil:
		return out, nil
	case loom.TimedOut(ctx):
		if !m.Timeout.IsZero() && !started.Add(deadline).Before(m.Timeout) {
			// The task itself expired: no retry can help.
			return nil, loom.Permanent(fmt.Errorf("%w: task deadline %s passed", loom.ErrTimeout, m.Timeout.Format(time.RFC3339)))
		}
		return nil, fmt.Errorf("%w: attempt ran longer than %s", loom.ErrTimeout, deadline)
	case context.Cause(base) != nil:
		return nil, w.stopped(context.Cause(base))
	case err == nil:
		return nil, ctx.Err()
	}
	return nil, err
}

// stopped is the error of an attempt whose context was cancelled with
// cause: errShutdown itself for a shutdown, a cancellation otherwise.
func (w *Worker) stopped(cause error) error {
	if errors.Is(cause, errShutdown) {
		return errShutdown
	}
	return fmt.Errorf("%w: %w", loom.ErrCancelled, cause)
}

// callHandler runs the handler under the type's breaker, turning a panic
// into an error.
func (w *Worker) callHandler(ctx context.Context, reg *registration, in loom.Values) (out loom.Values, err error) {
	t := reg.task
	var b *loom.CircuitBreaker
	if t.Breaker != nil {
		b = t.Breaker
		if t.BreakerKey != nil {
			b = b.Key(t.BreakerKey(in))
		}
		before := b.State()
		if err := b.Allow(); err != nil {
			w.breakerChanged(ctx, t.Name, b, before, err)
			return nil, err
		}
		defer func() {
			b.Record(err)
			w.breakerChanged(ctx, t.Name, b, before, err)
		}()
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return t.Handler.Handle(ctx, in)
}

// breakerChanged emits the event of b's transition if its state is no
// longer before. Two attempts that see the same transition both emit it;
// listeners (alerts) deduplicate.
func (w *Worker) breakerChanged(ctx context.Context, task string, b *loom.CircuitBreaker, before loom.BreakerState, err error) {
	if w.cfg.Events == nil {
		return
	}
	now := b.State()
	if now == before {
		return
	}
	e := loom.Event{Time: w.cfg.Clock.Now(), Task: task, Breaker: b.Name()}
	switch now {
	case loom.BreakerOpen:
		e.Type = loom.EventBreakerOpened
		if err != nil {
			e.Error = err.Error()
		}
	case loom.BreakerHalfOpen:
		e.Type = loom.EventBreakerHalf
	default:
		e.Type = loom.EventBreakerClosed
	}
	w.cfg.Events.Emit(context.WithoutCancel(ctx), e)
}
