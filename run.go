package loom

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mathrand "math/rand/v2"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// idempotencyPoll is how often a run waiting for an in-flight duplicate
// looks again when the store cannot say when the key changes.
const idempotencyPoll = 50 * time.Millisecond

// withDefaults fills in every default of Config; it is the one place they
// are chosen. parallelism is the executor kind's default.
func (c Config) withDefaults(parallelism int) Config {
	c.Clock = clockOrDefault(c.Clock)
	if c.State == nil {
		c.State = newPrivateState()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Parallelism <= 0 {
		c.Parallelism = parallelism
	}
	return c
}

// privateState is the state of an executor given none. Nothing outside
// the executor can read it, and the executor never reads runs back, so it
// records no runs or steps at all: saving them would cost every run time
// and memory for nothing. Idempotency records are a MemoryState's, so keys
// work as documented; its maps are made on first use, so that an executor
// made for one run (Task.Run) costs little.
type privateState struct {
	*MemoryState
}

func newPrivateState() privateState { return privateState{MemoryState: &MemoryState{}} }

var _ StateManager = privateState{}

// SaveRun records nothing: see privateState.
func (privateState) SaveRun(_ context.Context, run RunState) error {
	if run.RunID == "" {
		return errors.New("save run: empty run id")
	}
	return nil
}

// SaveStep records nothing: see privateState.
func (privateState) SaveStep(context.Context, string, StepState) error { return nil }

// LoadRun finds nothing: see privateState.
func (privateState) LoadRun(_ context.Context, runID string) (RunState, error) {
	return RunState{}, fmt.Errorf("load run %s: %w", runID, ErrNotFound)
}

// defaultParallelism is ParallelExecutor's default Parallelism.
func defaultParallelism() int { return 2 * runtime.GOMAXPROCS(0) }

// executor is the run implementation every Executor shares: the attempt
// loop with its policies, idempotency, state, events, and flow scheduling.
type executor struct {
	cfg Config
	// slots bounds how many handlers run at once across the executor; nil
	// runs everything in the goroutine that asks, one thing at a time.
	slots *semaphore
	// boundTasks makes a top-level run of a plain task take a slot too
	// (ParallelExecutor); otherwise only flow steps and fan-out items do.
	boundTasks bool
	// private is set when State is the private state, which records
	// nothing: record then has nothing to do.
	private bool
	// systemClock is set when Clock is SystemClock, whose time since a
	// reading costs one clock read where Now costs two.
	systemClock bool
}

// slotKey marks the context of a handler that holds one of an executor's
// slots; its value is that executor.
type slotKey struct{}

// holdsSlot reports whether ctx is a handler's that holds a slot of x.
func (x *executor) holdsSlot(ctx context.Context) bool {
	h, _ := ctx.Value(slotKey{}).(*executor)
	return h == x
}

// attemptContext is the context of an attempt: the AttemptInfo that
// Attempt reads and, for a handler holding a slot, that slot's executor
// (slotKey). It is one allocation where context.WithValue would take
// three, on the path every run takes. It holds the AttemptInfo in 24
// bytes rather than 32, so that the whole fits a 48-byte allocation: the
// counts as int32, which no retry policy in earnest exceeds (a larger
// MaxAttempts reads as math.MaxInt32).
type attemptContext struct {
	context.Context
	runID                string
	attempt, maxAttempts int32
	slot                 *executor
}

// Value answers attemptKey and slotKey, and asks the parent for the rest.
func (c *attemptContext) Value(key any) any {
	switch key.(type) {
	case attemptKey:
		return AttemptInfo{RunID: c.runID, Attempt: int(c.attempt), MaxAttempts: int(c.maxAttempts)}
	case slotKey:
		if c.slot != nil {
			return c.slot
		}
	}
	return c.Context.Value(key)
}

// itemContext is the attemptContext of a fan-out item not named yet
// (runMeta.named): its run id is made when a handler asks for it. It too
// fits 48 bytes.
type itemContext struct {
	context.Context
	of                   *runMeta // the fan-out step
	index                int
	attempt, maxAttempts int32
	slot                 *executor
}

// Value answers attemptKey, with the item's run id made now, and slotKey,
// and asks the parent for the rest.
func (c *itemContext) Value(key any) any {
	switch key.(type) {
	case attemptKey:
		id, _ := itemNames(c.of.id, c.of.step, c.index)
		return AttemptInfo{RunID: id, Attempt: int(c.attempt), MaxAttempts: int(c.maxAttempts)}
	case slotKey:
		if c.slot != nil {
			return c.slot
		}
	}
	return c.Context.Value(key)
}

func newExecutor(cfg Config, parallelism int) *executor {
	x := &executor{cfg: cfg.withDefaults(parallelism)}
	_, x.private = x.cfg.State.(privateState)
	_, x.systemClock = x.cfg.Clock.(SystemClock)
	if x.cfg.Parallelism > 1 {
		x.slots = newSemaphore(x.cfg.Parallelism)
	}
	return x
}

// runMeta says where a run sits: at the top, or as a step of a flow run.
type runMeta struct {
	id      string
	flowRun string // the flow run this is a step of; "" at the top
	step    string // the step's name in that flow
	key     string // an idempotency key given with WithIdempotencyKey
	// item marks a fan-out item, which has no step state of its own.
	item bool
	// of is the fan-out step of an item whose id and step name are not
	// made yet, and index the item's number: most items are never
	// recorded, logged or reported, so their names are made (named) only
	// when something needs them.
	of    *runMeta
	index int
}

// named makes the id and step name of a fan-out item that has none yet:
// the step's, each followed by "[index]". It returns m.
func (m *runMeta) named() *runMeta {
	if m.of != nil && m.id == "" {
		m.id, m.step = itemNames(m.of.id, m.of.step, m.index)
	}
	return m
}

func (m *runMeta) name(t *Task) string {
	if m.step != "" {
		return m.step
	}
	return t.Name
}

func (m *runMeta) event(typ EventType, t *Task, attempt int) Event {
	m.named()
	return Event{Type: typ, RunID: m.id, FlowRunID: m.flowRun, Task: t.Name, Step: m.step, Attempt: attempt}
}

// newRunID returns a new UUIDv7: ordered by the millisecond it was made
// in (random within it), unique, not a secret.
func newRunID() string { return newRunIDAt(systemNow()) }

// wallBase is the reading of time.Now that systemNow counts from.
var wallBase atomic.Pointer[time.Time]

// wallRefresh is how old wallBase may be before systemNow reads the wall
// clock again.
const wallRefresh = 100 * time.Millisecond

// systemNow returns the system time as time.Now does, at the cost of one
// clock read where time.Now costs two (wall and monotonic): it adds the
// monotonic time since wallBase to it. The monotonic reading is exact;
// the wall reading is too, except that a step of the wall clock (not the
// slewing that moves both clocks alike) shows only once wallBase is
// renewed, within wallRefresh.
func systemNow() time.Time {
	if b := wallBase.Load(); b != nil {
		if d := time.Since(*b); d < wallRefresh {
			return b.Add(d)
		}
	}
	t := time.Now()
	wallBase.Store(&t)
	return t
}

// now reads the executor's clock: systemNow for SystemClock.
func (x *executor) now() time.Time {
	if x.systemClock {
		return systemNow()
	}
	return x.cfg.Clock.Now()
}

// newRunIDAt is newRunID for a run made at, a time read from the system
// clock: a run reads the clock once for its id and its start.
func newRunIDAt(at time.Time) string {
	// math/rand/v2's global source is the runtime's ChaCha8, one per
	// thread and seeded from the system's randomness: no system call, no
	// lock and no pool.
	randB := mathrand.Uint64()
	var u uuid.UUID
	// 48 bits of Unix milliseconds, the version (7), 12 bits of sub-
	// millisecond time or sequence; the variant (10) and 62 random bits.
	t := uint64(runIDTime(at))
	binary.BigEndian.PutUint64(u[0:8], t>>12<<16|0x7000|t&0x0fff)
	binary.BigEndian.PutUint64(u[8:16], randB&^(3<<62)|2<<62)
	return u.String()
}

// lastRunIDTime is the time field of the latest run id, so that ids made
// in one process increase even within a millisecond.
var lastRunIDTime atomic.Int64

// runIDTime is at as milliseconds shifted left by 12 plus the fraction of
// the millisecond in 12 bits (UUIDv7's method 3), above every earlier
// one.
func runIDTime(at time.Time) int64 {
	nano := at.UnixNano()
	milli := nano / 1e6
	base := milli<<12 + (nano-milli*1e6)>>8
	for {
		last := lastRunIDTime.Load()
		next := base
		if next <= last {
			next = last + 1
		}
		if lastRunIDTime.CompareAndSwap(last, next) {
			return next
		}
	}
}

func checkTask(t *Task) error {
	switch {
	case t == nil:
		return errors.New("loom: nil task")
	case t.Name == "":
		return errors.New("loom: task has no name")
	case t.Handler == nil:
		return fmt.Errorf("loom: task %q has no handler", t.Name)
	}
	return nil
}

// prepare validates t and resolves the run options of a top-level run.
// The run id stays empty unless given: run makes one as it starts, and a
// caller that needs it sooner calls newRunID.
func prepare(t *Task, opts []RunOption) (runMeta, error) {
	if err := checkTask(t); err != nil {
		return runMeta{}, err
	}
	var m runMeta
	if len(opts) > 0 {
		o := new(runOptions)
		for _, opt := range opts {
			opt(o)
		}
		m.id, m.key = o.runID, o.idempotencyKey
	}
	return m, nil
}

// execute runs a top-level run and returns as Executor.Execute does.
func (x *executor) execute(ctx context.Context, t *Task, in Values, m *runMeta) (*Result, error) {
	if _, isFlow := t.Handler.(*Flow); x.boundTasks && x.slots != nil && !isFlow && !x.holdsSlot(ctx) {
		// A flow only schedules (its steps take slots); a handler's own
		// nested work runs in the slot the handler holds, or a handler
		// waiting for it could wait forever for a slot of its own.
		if x.slots.acquire(ctx) {
			defer x.slots.release()
		}
		// Otherwise ctx ended: the run ends cancelled without calling
		// the handler.
	}
	res := new(Result)
	if err := x.run(ctx, t, in, m, res); err != nil {
		return nil, err
	}
	if res.Status != StatusCompleted {
		return res, &RunError{Result: res}
	}
	return res, nil
}

// run runs t under m: idempotency, then attempts until one completes, the
// retry policy gives up or ctx ends. It fills in res, which the caller
// gives zeroed so that it may sit in a larger allocation (a fan-out's
// items share one). The error is for a run that could not start (its key
// or state could not be recorded); everything else is in res.
func (x *executor) run(ctx context.Context, t *Task, in Values, m *runMeta, res *Result) error {
	key, idem, keyed, err := idempotencyKey(t, in, m.key)
	if err != nil {
		return fmt.Errorf("loom: task %q: %w", t.Name, err)
	}
	// A fan-out item is never recorded and its Result is only summed up
	// into its step's, so it reads no clock, unless its Result is kept
	// under an idempotency key for a later run to replay.
	timed := !m.item || keyed
	var started time.Time
	if timed {
		started = x.now()
	}
	if _, isFlow := t.Handler.(*Flow); keyed || isFlow {
		m.named() // a key's owner, a flow's run id
	}
	if m.id == "" && m.of == nil {
		at := started
		if !x.systemClock || !timed {
			at = systemNow()
		}
		m.id = newRunIDAt(at)
	}
	res.RunID, res.Name, res.Started = m.id, m.name(t), started

	if keyed {
		replay, held, err := x.acquireKey(ctx, t, in, m, key, idem)
		switch {
		case err != nil:
			return err
		case replay != nil:
			*res = *replay
			return nil
		case !held: // ctx ended while waiting for a duplicate
			res.Status = StatusCancelled
			res.Err = cancelError(ctx, nil)
			res.Message = res.Err.Error()
			res.Ended = x.endTime(started)
			return nil
		}
	}

	// State is saved even once ctx is done, except in the private state,
	// which records no runs and so needs no context of its own.
	sctx := ctx
	if !x.private || keyed {
		sctx = context.WithoutCancel(ctx)
	}
	if err := x.record(sctx, t, in, m, res, StatusRunning); err != nil && m.flowRun == "" {
		if keyed {
			x.releaseKey(sctx, key)
		}
		return fmt.Errorf("loom: task %q: recording run %s: %w", t.Name, m.id, err)
	}

	x.attempts(ctx, t, in, m, res)

	if timed {
		res.Ended = x.endTime(started)
	}
	if res.Err != nil {
		res.Message = res.Err.Error()
	}
	_ = x.record(sctx, t, in, m, res, res.Status)
	if keyed {
		x.finishKey(sctx, t, key, idem, res)
	}
	x.emitEnd(ctx, t, m, res)
	return nil
}

// endTime returns the time now, for a run that started at started: on
// the system clock, started plus the monotonic time since, which reads
// the clock once where time.Now reads it twice (wall and monotonic) and
// never ends a run before it started.
func (x *executor) endTime(started time.Time) time.Time {
	if x.systemClock {
		return started.Add(time.Since(started))
	}
	return x.cfg.Clock.Now()
}

// attempts runs the attempt loop, leaving the outcome in res.
func (x *executor) attempts(ctx context.Context, t *Task, in Values, m *runMeta, res *Result) {
	fl, isFlow := t.Handler.(*Flow)
	// seen is the breaker state this run last saw, so that a transition
	// between attempts (open to half-open as the cool-down passes) is
	// reported too.
	var seen BreakerState
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			res.Status, res.Err = StatusCancelled, cancelError(ctx, nil)
			return
		}
		res.Attempts = attempt
		if attempt > 1 {
			_ = x.record(context.WithoutCancel(ctx), t, in, m, res, StatusRunning)
		}
		out, err := x.attempt(ctx, t, fl, isFlow, in, m, res, attempt, &seen)
		if err == nil {
			res.Status, res.Output, res.Err = StatusCompleted, out, nil
			return
		}
		if ctx.Err() != nil {
			res.Status, res.Err = StatusCancelled, cancelError(ctx, err)
			return
		}
		res.Err = err
		var delay time.Duration
		retry := false
		if t.Retry != nil {
			delay, retry = t.Retry.Next(attempt, err)
		}
		if !retry {
			res.Status = StatusFailed
			return
		}
		if x.cfg.Logger.Enabled(ctx, slog.LevelDebug) {
			x.cfg.Logger.DebugContext(ctx, "attempt failed; retrying", "task", t.Name, "run", m.named().id, "attempt", attempt, "delay", delay, "error", err)
		}
		if x.cfg.Events.listening() {
			e := m.event(EventTaskRetrying, t, attempt)
			e.Delay, e.Error = delay, err.Error()
			x.emit(ctx, e)
		}
		if err := Sleep(ctx, x.cfg.Clock, delay); err != nil {
			res.Status, res.Err = StatusCancelled, cancelError(ctx, res.Err)
			return
		}
	}
}

// attempt makes one attempt: breaker, timeout, the handler (or the flow's
// steps) with panics recovered.
func (x *executor) attempt(ctx context.Context, t *Task, fl *Flow, isFlow bool, in Values, m *runMeta, res *Result, attempt int, seen *BreakerState) (out Values, err error) {
	var b *CircuitBreaker
	if t.Breaker != nil {
		b = t.Breaker
		if t.BreakerKey != nil {
			b = b.Key(t.BreakerKey(in))
		}
		x.breakerSeen(ctx, b, seen)
		if err := b.Allow(); err != nil {
			x.breakerSeen(ctx, b, seen)
			return nil, fmt.Errorf("task %q: %w", t.Name, err)
		}
	}

	actx := ctx
	if !isFlow {
		// A clock that moves by itself (a test's fake clock) stays still
		// while the handler works, so that its timeout does not pass
		// during real work; Sleep lets go while it waits, and a handler
		// blocked on something else lets go after handlerHoldLimit.
		var hold *ClockHold
		if actx, hold = HoldClock(actx, x.cfg.Clock); hold != nil {
			stop := hold.PauseAfter(handlerHoldLimit)
			defer func() { stop(); hold.Release() }()
		}
	}
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = WithTimeout(actx, x.cfg.Clock, t.Timeout)
		defer cancel()
	}
	maxAttempts := 1
	if t.Retry != nil && t.Retry.MaxAttempts > 1 {
		maxAttempts = t.Retry.MaxAttempts
	}
	ac := attemptContext{Context: actx, runID: m.id, attempt: int32(min(attempt, math.MaxInt32)), maxAttempts: int32(min(maxAttempts, math.MaxInt32))}
	if x.slots != nil && !isFlow {
		ac.slot = x
	}
	if m.id == "" { // an item not named yet
		actx = &itemContext{Context: ac.Context, of: m.of, index: m.index, attempt: ac.attempt, maxAttempts: ac.maxAttempts, slot: ac.slot}
	} else {
		p := new(attemptContext)
		*p = ac
		actx = p
	}

	if isFlow {
		if x.cfg.Events.listening() {
			x.emit(ctx, m.event(EventFlowStarted, t, attempt))
		}
		out, err = x.runFlow(actx, t, fl, in, m, res)
	} else {
		if x.cfg.Events.listening() {
			x.emit(ctx, m.event(EventTaskStarted, t, attempt))
		}
		out, err = x.call(actx, t, in, m)
	}
	if err != nil && t.Timeout > 0 && ctx.Err() == nil && TimedOut(actx) {
		err = fmt.Errorf("%w after %s: %w", ErrTimeout, t.Timeout, err)
	}

	if b != nil {
		b.Record(err)
		x.breakerSeen(ctx, b, seen)
	}
	return out, err
}

// call runs the handler, turning a panic into the attempt's error.
func (x *executor) call(ctx context.Context, t *Task, in Values, m *runMeta) (out Values, err error) {
	defer func() {
		if r := recover(); r != nil {
			pe := &panicError{value: r, stack: debug.Stack()}
			x.cfg.Logger.ErrorContext(ctx, "handler panicked", "task", t.Name, "run", m.named().id, "panic", fmt.Sprint(r), "stack", string(pe.stack))
			fmt.Fprintf(LogWriter(ctx), "panic: %v\n%s", r, pe.stack)
			out, err = nil, pe
		}
	}()
	return t.Handler.Handle(ctx, in)
}

// panicError is the error of an attempt whose handler panicked.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.value) }

// cancelError is the error of a run whose ctx ended: it matches
// ErrCancelled and the context's cause, and keeps the attempt's error.
func cancelError(ctx context.Context, err error) error {
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w (%w)", ErrCancelled, context.Cause(ctx), err)
	}
	return fmt.Errorf("%w: %w", ErrCancelled, context.Cause(ctx))
}

// breakerSeen reads b's state and emits a breaker event if it differs from
// the state this run saw last. The first look of a run only records it: a
// change before the run started was reported by whoever saw it.
func (x *executor) breakerSeen(ctx context.Context, b *CircuitBreaker, seen *BreakerState) {
	// The state is tracked while an emitter is set, listened to or not, so
	// that a listener added during the run hears of the next change.
	if x.cfg.Events == nil {
		return
	}
	now, before := b.State(), *seen
	*seen = now
	if before == "" || now == before {
		return
	}
	var typ EventType
	switch now {
	case BreakerOpen:
		typ = EventBreakerOpened
	case BreakerHalfOpen:
		typ = EventBreakerHalf
	default:
		typ = EventBreakerClosed
	}
	x.emit(ctx, Event{Type: typ, Breaker: b.Name()})
}

// emit stamps e and delivers it, unless nobody listens: then the clock
// is not even read.
func (x *executor) emit(ctx context.Context, e Event) {
	if !x.cfg.Events.listening() {
		return
	}
	e.Time = x.now()
	x.cfg.Events.Emit(ctx, e)
}

// emitEnd emits the event that closes a run.
func (x *executor) emitEnd(ctx context.Context, t *Task, m *runMeta, res *Result) {
	if !x.cfg.Events.listening() {
		return
	}
	_, isFlow := t.Handler.(*Flow)
	var typ EventType
	switch {
	case res.Status == StatusCompleted && isFlow:
		typ = EventFlowCompleted
	case res.Status == StatusCompleted:
		typ = EventTaskCompleted
	case res.Status == StatusCancelled:
		typ = EventTaskCancelled
	case isFlow:
		typ = EventFlowFailed
	default:
		typ = EventTaskFailed
	}
	e := m.event(typ, t, res.Attempts)
	e.Output, e.Error = res.Output, res.Message
	x.emit(ctx, e)
}

// record saves a run's state: a top-level run or a nested flow as a run, a
// step as a step of its flow run. A failure is logged; it is returned for
// the caller that must refuse to start without state.
func (x *executor) record(ctx context.Context, t *Task, in Values, m *runMeta, res *Result, st Status) error {
	if x.private {
		return nil // see privateState
	}
	var err error
	_, isFlow := t.Handler.(*Flow)
	if m.flowRun == "" || isFlow {
		err = x.cfg.State.SaveRun(ctx, RunState{
			RunID: m.id, ParentRunID: m.flowRun, Task: t.Name, Status: st,
			Input: in, Output: res.Output, Error: res.Message, Attempts: res.Attempts,
			Started: res.Started, Ended: res.Ended,
		})
	}
	if m.flowRun != "" && !m.item {
		err = errors.Join(err, x.cfg.State.SaveStep(ctx, m.flowRun, StepState{
			Name: m.step, Status: st, Attempts: res.Attempts, Started: res.Started,
			Ended: res.Ended, Error: res.Message, Output: res.Output,
		}))
	}
	if err != nil {
		x.cfg.Logger.ErrorContext(ctx, "saving run state", "task", t.Name, "run", m.id, "status", st, "error", err)
	}
	return err
}

// idempotencyKey returns the run's idempotency key and the settings that
// govern it; keyed is false when the run has none.
func idempotencyKey(t *Task, in Values, explicit string) (key string, idem *Idempotency, keyed bool, err error) {
	if explicit == "" && t.Idempotency == nil {
		return "", nil, false, nil
	}
	idem = t.Idempotency.withDefaults()
	if explicit != "" {
		return explicit, idem, true, nil
	}
	key, err = t.Idempotency.key(t.Name, in)
	if err != nil {
		return "", nil, false, err
	}
	return key, idem, true, nil
}

// acquireKey takes key for the run. It returns the recorded Result to
// replay when a run with the key already ended, or held=true once the run
// holds the key; neither when ctx ended while a duplicate was in flight.
func (x *executor) acquireKey(ctx context.Context, t *Task, in Values, m *runMeta, key string, idem *Idempotency) (replay *Result, held bool, err error) {
	st := x.cfg.State
	kw, _ := st.(KeyWaiter)
	for {
		// Ask for the change signal first, so a change between AcquireKey's
		// answer and the wait is not missed.
		var changed <-chan struct{}
		if kw != nil {
			changed = kw.KeyChanged(key)
		}
		rec, acquired, err := st.AcquireKey(ctx, key, m.id, x.now(), idem.LockTTL)
		if err != nil {
			return nil, false, fmt.Errorf("loom: task %q: acquiring idempotency key %q: %w", t.Name, key, err)
		}
		if acquired {
			return nil, true, nil
		}
		if rec.Result != nil {
			r := *rec.Result
			r.Replayed = true
			r.Name = m.name(t)
			if x.cfg.Events.listening() {
				e := m.event(EventTaskReplayed, t, r.Attempts)
				e.RunID, e.Output, e.Error = r.RunID, r.Output, r.Message
				x.emit(ctx, e)
			}
			return &r, false, nil
		}
		if err := x.waitKey(ctx, changed, rec); err != nil {
			return nil, false, nil
		}
	}
}

// waitKey waits until an in-flight key may have changed: the store says so
// on changed, its lock lapses (the holder may have crashed), or, for a
// store that cannot tell (changed is nil), a poll interval passes.
func (x *executor) waitKey(ctx context.Context, changed <-chan struct{}, rec IdempotencyRecord) error {
	wait := idempotencyPoll
	if changed != nil {
		if until := rec.LockedUntil.Sub(x.now()); until > 0 {
			wait = until
		}
	}
	timer := x.cfg.Clock.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-changed:
	case <-timer.C():
	}
	return nil
}

// finishKey records the ended run under its key, or releases the key.
func (x *executor) finishKey(ctx context.Context, t *Task, key string, idem *Idempotency, res *Result) {
	var err error
	if res.Status == StatusCompleted || (res.Status == StatusFailed && idem.OnFailure == KeepOnFailure) {
		r := *res
		err = x.cfg.State.CompleteKey(ctx, key, &r, x.now().Add(idem.Window))
	} else {
		err = x.cfg.State.ReleaseKey(ctx, key)
	}
	if err != nil {
		x.cfg.Logger.ErrorContext(ctx, "recording idempotency key", "task", t.Name, "key", key, "error", err)
	}
}

func (x *executor) releaseKey(ctx context.Context, key string) {
	if err := x.cfg.State.ReleaseKey(ctx, key); err != nil {
		x.cfg.Logger.ErrorContext(ctx, "releasing idempotency key", "key", key, "error", err)
	}
}
