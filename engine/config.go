package engine

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/metrics"
	loomrt "github.com/loomhq/loom/runtime"
	"github.com/loomhq/loom/store"
	"go.opentelemetry.io/otel/trace"
)

// Config configures an Engine. Only Store is required; every zero value
// means the default stated on its field, filled in by one function
// (withDefaults) so the defaults are documented and applied in one place.
type Config struct {
	// Store keeps every task's state. Required. The engine does not close
	// it: the caller who opened it does.
	Store store.Store
	// Bus carries claimed attempts to workers and their results back.
	// Default: a new in-process bus (bus/memory) that the engine owns and
	// closes in Close. Pass a shared bus (bus/file, NATS, Redis) for
	// workers in other processes; the engine does not close a bus it was
	// given.
	Bus bus.Bus
	// AckWait is how long a worker may hold a task without word from it
	// before the bus hands it to another worker, for the engine's embedded
	// workers and its own consumer of results. A worker extends the
	// deliveries of the handlers it runs every third of it, so a handler
	// may run longer. Default bus.DefaultAckWait (30s), or the bus's.
	AckWait time.Duration
	// Clock is the engine's source of time: RunAt, leases, retries,
	// timeouts. Default loom.SystemClock.
	Clock loom.Clock
	// Logger receives the engine's own logs (not the handlers' output,
	// which goes to the store as attempt logs). Default slog.Default().
	Logger *slog.Logger
	// WorkerID names this engine's worker in the store, on claimed tasks
	// and in the worker list. Default "<hostname>-<pid>-<random>".
	WorkerID string
	// Queues are the queues this engine dispatches and works, each with an
	// optional concurrency cap that holds across every engine sharing the
	// store. Default: the single queue "default" without a cap.
	Queues []Queue
	// PullQueues are queues that pull workers serve: workers that claim
	// tasks through Engine.Claim (the server's HTTP worker protocol) and
	// report through Heartbeat, AppendLog and Finish, holding the lease of
	// each attempt themselves. The engine neither dispatches these queues
	// nor runs them on its embedded worker, and accepts task types it has
	// no handler for on them. Default none.
	PullQueues []Queue
	// Workers is how many handlers the engine's embedded worker runs at
	// once. Default 4×GOMAXPROCS (handlers are usually I/O-bound). Negative
	// means none: the engine only dispatches, records and reaps, for
	// workers elsewhere on the bus.
	Workers int
	// LeaseDuration is how long a claimed attempt is leased to its worker
	// before the reaper may re-queue it; heartbeats extend it. Default 30s.
	LeaseDuration time.Duration
	// HeartbeatInterval is how often running attempts' leases are extended.
	// It must be shorter than LeaseDuration. Default 10s.
	HeartbeatInterval time.Duration
	// Retain, when positive, deletes ended top-level tasks (with their
	// steps, logs and events) once they ended that long ago; RetainQueues
	// sets it per queue instead (zero or less keeps a queue's tasks for
	// ever). RetainInterval is how often it looks: default
	// DefaultRetainInterval.
	Retain         time.Duration
	RetainQueues   map[string]time.Duration
	RetainInterval time.Duration
	// ReapInterval is how often the reaper fails expired tasks and
	// re-queues tasks whose lease lapsed. Default 1s.
	ReapInterval time.Duration
	// Leads, when set, says whether this engine's server leads the
	// servers sharing its store (package cluster): only the leader reaps,
	// so that one reaper runs however many servers there are. Default
	// nil: this engine always reaps.
	Leads func() bool
	// MaxLeaseExpiries is how many times a task's started attempts may
	// lose their lease without a result (the process running the handler
	// died or hung) before the reaper fails the task instead of
	// re-queueing it, with a message that says so: a task that crashes its
	// worker every time ends. An attempt whose lease expires before its
	// handler started does not count, and does not use an attempt either.
	// Default DefaultMaxLeaseExpiries (3); negative means no limit.
	MaxLeaseExpiries int
	// PollInterval is how often the dispatcher looks for work when nothing
	// woke it, to notice tasks other processes wrote to a shared store.
	// Default 1s.
	PollInterval time.Duration
	// DispatchBatch is the most tasks one claim takes and one publish
	// sends. Default 1000.
	DispatchBatch int
	// CompleteBatch is the most outcomes recorded in one store call
	// (group commit). Default 1000.
	CompleteBatch int
	// LogFlushInterval is how long handler output may wait in memory
	// before it is appended to the store; an attempt's output is always
	// flushed before its outcome is recorded. Default 250ms.
	LogFlushInterval time.Duration
	// ShutdownTimeout is how long Run, once its context is done, lets
	// in-flight attempts finish before it releases them back to pending.
	// Default 10s.
	ShutdownTimeout time.Duration
	// Handlers registers task types by name at New, for handlers without
	// a loom.Task of their own. Each gets no retries and no timeout beyond
	// the task object's. The built-in exec and http types
	// (runtime.Builtins) are registered too, unless Handlers names them:
	// a nil handler under such a name leaves the built-in out.
	Handlers map[string]loom.Handler
	// Admit, when set, is asked about every task before Submit or
	// SubmitMany creates it, and before Retry gives a task new input (the
	// steps a flow creates are not asked): an error refuses the request
	// with ErrRefused and the error's text.
	// It is where a server keeps submitted tasks to what its operator
	// allowed, such as exec commands. Default: every task is admitted.
	Admit func(p *SubmitParams) error
	// Events receives the library's task and flow events (task.started,
	// task.retrying, task.completed, task.failed, task.cancelled,
	// task.skipped, task.replayed, flow.started, flow.completed,
	// flow.failed) of every task in the store, derived from the store's
	// event log as it grows from Run on (see event_feed.go for the
	// mapping), and the circuit breaker events (breaker.opened,
	// breaker.half_open, breaker.closed) of the task types the embedded
	// workers run. So loom.EventEmitter.On and Chan, loom.TriggerTask and
	// loomtest.Recorder work on durable runs as on the library's
	// executors; the events of a run are emitted after the store recorded
	// them, so one may arrive after Wait or Execute returned. Default:
	// none.
	Events *loom.EventEmitter
	// Metrics, when set, is fed as tasks move (see package metrics): the
	// engine makes its queues and registered types known to it, counts
	// its bus's deliveries, and registers the gauges read from Store and
	// the breaker state Events carries. Default: none.
	Metrics *metrics.Metrics
	// TracerProvider makes the spans of submits (one per task; a flow's
	// is the parent of its steps' attempts) and of the embedded workers'
	// attempts. Default: OpenTelemetry's global provider, a no-op unless
	// one was installed (telemetry.SetupTracing does, from OTEL_*).
	TracerProvider trace.TracerProvider
}

// Queue is a queue an engine serves.
type Queue struct {
	// Name is the queue's name. Required.
	Name string
	// Concurrency caps how many of the queue's tasks run at once across
	// every engine sharing the store; zero means no cap. Note that a flow
	// counts against its queue's cap while it runs, as do its steps.
	Concurrency int
	// External marks a queue that workers elsewhere on the bus serve
	// (engine.Worker on other machines, or any seed-003 worker): the
	// engine's embedded worker does not consume it, the engine accepts
	// task types it has no handler for on it, and a shutdown leaves its
	// running attempts to their workers instead of releasing them.
	External bool
}

// Defaults used when a Config field is zero.
const (
	DefaultLeaseDuration     = 30 * time.Second
	DefaultHeartbeatInterval = 10 * time.Second
	DefaultReapInterval      = time.Second
	DefaultPollInterval      = time.Second
	DefaultDispatchBatch     = 1000
	DefaultCompleteBatch     = 1000
	DefaultLogFlushInterval  = 250 * time.Millisecond
	DefaultShutdownTimeout   = 10 * time.Second
	DefaultMaxLeaseExpiries  = 3
)

// The backoff of a failed attempt whose task type has no retry policy
// (a type registered by Handlers, a built-in such as exec, a type only an
// external worker knows) when the task's MaxAttempts allows a retry:
// DefaultRetryDelay before the second attempt, doubling each time up to
// DefaultRetryMaxDelay, each delay spread by ±20% at random so that tasks
// failing together do not retry in lock-step. It is never zero.
const (
	DefaultRetryDelay    = time.Second
	DefaultRetryMaxDelay = 5 * time.Minute
)

// defaultRetry is that policy; decide sets MaxAttempts from the task.
var defaultRetry = loom.RetryPolicy{
	InitialDelay: DefaultRetryDelay, BackoffFactor: 2, MaxDelay: DefaultRetryMaxDelay, Jitter: 0.2,
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = loom.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.WorkerID == "" {
		c.WorkerID = defaultWorkerID()
	}
	if len(c.Queues) == 0 {
		c.Queues = []Queue{{Name: loom.DefaultQueue}}
	}
	if c.Workers == 0 {
		c.Workers = 4 * runtime.GOMAXPROCS(0)
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
		if c.HeartbeatInterval >= c.LeaseDuration {
			c.HeartbeatInterval = c.LeaseDuration / 3
		}
	}
	if c.RetainInterval == 0 {
		c.RetainInterval = DefaultRetainInterval
	}
	if c.ReapInterval == 0 {
		c.ReapInterval = DefaultReapInterval
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.DispatchBatch == 0 {
		c.DispatchBatch = DefaultDispatchBatch
	}
	if c.CompleteBatch == 0 {
		c.CompleteBatch = DefaultCompleteBatch
	}
	if c.LogFlushInterval == 0 {
		c.LogFlushInterval = DefaultLogFlushInterval
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.MaxLeaseExpiries == 0 {
		c.MaxLeaseExpiries = DefaultMaxLeaseExpiries
	}
	return c
}

// validate reports the first setting that cannot work.
func (c Config) validate() error {
	switch {
	case c.Store == nil:
		return fmt.Errorf("%w: Config.Store is required", ErrInvalid)
	case c.LeaseDuration < 0, c.HeartbeatInterval < 0, c.ReapInterval < 0,
		c.PollInterval < 0, c.LogFlushInterval < 0, c.ShutdownTimeout < 0:
		return fmt.Errorf("%w: durations must not be negative", ErrInvalid)
	case c.HeartbeatInterval >= c.LeaseDuration:
		return fmt.Errorf("%w: HeartbeatInterval (%s) must be shorter than LeaseDuration (%s)",
			ErrInvalid, c.HeartbeatInterval, c.LeaseDuration)
	case c.DispatchBatch < 0, c.CompleteBatch < 0, c.AckWait < 0:
		return fmt.Errorf("%w: batch sizes must not be negative", ErrInvalid)
	}
	seen := make(map[string]bool, len(c.Queues))
	for _, q := range slices.Concat(c.Queues, c.PullQueues) {
		if q.Name == "" {
			return fmt.Errorf("%w: a queue has no name", ErrInvalid)
		}
		if q.Concurrency < 0 {
			return fmt.Errorf("%w: queue %q: negative concurrency", ErrInvalid, q.Name)
		}
		if err := bus.ValidateQueue(q.Name); err != nil {
			return fmt.Errorf("%w: queue %q: %w", ErrInvalid, q.Name, err)
		}
		if seen[q.Name] {
			return fmt.Errorf("%w: queue %q listed twice", ErrInvalid, q.Name)
		}
		seen[q.Name] = true
	}
	for name, h := range c.Handlers {
		if name == "" || (h == nil && !builtin(name)) {
			return fmt.Errorf("%w: Config.Handlers has an empty name or nil handler", ErrInvalid)
		}
	}
	return nil
}

func defaultWorkerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "loom"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// handlers returns the task types New registers: the built-ins, then
// c.Handlers over them (a nil handler removes a built-in).
func (c Config) handlers() map[string]loom.Handler {
	hs := loomrt.Builtins()
	for name, h := range c.Handlers {
		if h == nil {
			delete(hs, name)
			continue
		}
		hs[name] = h
	}
	return hs
}

// builtin reports whether name is a built-in task type.
func builtin(name string) bool {
	_, ok := loomrt.Builtins()[name]
	return ok
}
