package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/store"
)

// Workers on a network bus announce themselves on a control queue of the
// bus, so that the servers sharing the bus know them without any other
// connection: each worker publishes an Announcement when it starts, every
// AnnounceInterval while it runs, when it starts draining and when it
// stops. An engine records them in its store's worker list, and learns
// from them which queues are served by workers elsewhere.

// WorkersQueue is the bus queue workers announce themselves on. Its
// leading underscore keeps it apart from task queues, which are named
// after what they run.
const WorkersQueue = "_workers"

// AnnounceType is the Type of an announcement message on WorkersQueue;
// the message's ID is the worker's and its Input an Announcement.
const AnnounceType = "loom.worker"

// AnnounceGroup is the consumer group engines read WorkersQueue in: one
// engine records each announcement in the store they share.
const AnnounceGroup = "servers"

// DefaultAnnounceInterval is how often a worker announces itself while it
// runs, for a WorkerConfig that sets no AnnounceInterval.
const DefaultAnnounceInterval = 5 * time.Second

// The states an Announcement reports.
const (
	// WorkerRunning: the worker takes and runs tasks.
	WorkerRunning = "running"
	// WorkerDraining: the worker was asked to stop; it takes no more
	// tasks and lets those it runs finish.
	WorkerDraining = "draining"
	// WorkerStopped: the worker has stopped; the engine forgets it.
	WorkerStopped = "stopped"
)

// Announcement is what a worker says of itself on WorkersQueue, the Input
// of an AnnounceType message (docs/worker-protocol.md).
type Announcement struct {
	// ID names the worker, unique among the workers of a bus: a queue
	// name's characters, at most bus.MaxNameLen bytes.
	ID string `json:"id"`
	// Host is the machine the worker runs on.
	Host string `json:"host"`
	// Queues are the queues the worker takes tasks from.
	Queues []string `json:"queues"`
	// Concurrency is how many tasks the worker runs at once.
	Concurrency int `json:"concurrency"`
	// InFlight is how many tasks the worker holds now: running, or
	// received and waiting for a free slot.
	InFlight int `json:"in_flight"`
	// Running lists the ids of the tasks whose attempts run now.
	Running []string `json:"running,omitempty"`
	// Version is the worker's build.
	Version string `json:"version,omitempty"`
	// State is WorkerRunning, WorkerDraining or WorkerStopped.
	State string `json:"state"`
	// Started is when the worker started; Sent when it sent this
	// announcement, by its clock.
	Started time.Time `json:"started"`
	Sent    time.Time `json:"sent"`
}

// validate reports what makes a an announcement no engine records.
func (a *Announcement) validate() error {
	if err := bus.ValidateQueue(a.ID); err != nil {
		return fmt.Errorf("worker id: %w", err)
	}
	if a.Concurrency < 0 || a.InFlight < 0 {
		return errors.New("negative concurrency or in_flight")
	}
	switch a.State {
	case WorkerRunning, WorkerDraining, WorkerStopped:
	default:
		return fmt.Errorf("state %q is not %q, %q or %q", a.State, WorkerRunning, WorkerDraining, WorkerStopped)
	}
	for _, q := range a.Queues {
		if err := bus.ValidateQueue(q); err != nil {
			return fmt.Errorf("queue: %w", err)
		}
	}
	return nil
}

// DefaultWorkerID is the id of a worker that names none: its host name
// and process id, unique among the live processes of a machine, and from
// the second call on in one process a sequence number, so that two workers
// of one process do not share a control queue.
func DefaultWorkerID() string {
	id := hostname() + "-" + strconv.Itoa(os.Getpid())
	if n := workerIDs.Add(1); n > 1 {
		id += "-" + strconv.FormatInt(n, 10)
	}
	return id
}

// workerIDs counts the default worker ids given out in this process.
var workerIDs atomic.Int64

// hostname is the machine's name, "localhost" when it has none.
func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// announcer returns the worker's means of announcing itself, or nil when
// it does not: it has no ID, or its bus cannot publish.
func (w *Worker) announcer() bus.Publisher {
	if w.cfg.ID == "" {
		return nil
	}
	p, _ := w.cfg.Bus.(bus.Publisher)
	return p
}

// announce publishes the worker's state on WorkersQueue. A failure is
// logged, not returned: the next announcement may get through, and the
// worker's tasks do not depend on it.
func (w *Worker) announce(ctx context.Context, p bus.Publisher, state string) {
	w.mu.Lock()
	running := make([]string, 0, len(w.running))
	for k := range w.running {
		running = append(running, k.id)
	}
	w.mu.Unlock()
	slices.Sort(running)
	a := Announcement{
		ID: w.cfg.ID, Host: hostname(), Queues: w.cfg.Queues, Concurrency: w.cfg.Concurrency,
		InFlight: max(0, w.cfg.Concurrency-int(w.idle.Load())), Running: running, Version: w.cfg.Version,
		State: state, Started: w.started, Sent: time.Now(),
	}
	in, err := json.Marshal(a)
	if err == nil {
		err = p.Publish(ctx, WorkersQueue, bus.Message{ID: w.cfg.ID, Type: AnnounceType, Input: in, Created: a.Sent})
	}
	if err != nil && !errors.Is(err, bus.ErrClosed) && ctx.Err() == nil {
		w.cfg.Logger.Warn("engine: worker: announce", "state", state, "err", err)
	}
}

// announceLoop announces the worker every AnnounceInterval, and at once
// on a signal of now, until ctx is done. It counts real time: a server
// judges a worker alive by it.
func (w *Worker) announceLoop(ctx context.Context, p bus.Publisher, now <-chan string) {
	t := time.NewTicker(w.cfg.AnnounceInterval)
	defer t.Stop()
	state := WorkerRunning
	for {
		w.announce(ctx, p, state)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case state = <-now:
		case <-w.nudge:
			// Attempts started: announce them soon, but at most every
			// nudgeEvery, however fast they start.
			if sleepReal(ctx, nudgeEvery) != nil {
				return
			}
		}
	}
}

// nudgeEvery is the least time between two announcements that started
// attempts ask for.
const nudgeEvery = 100 * time.Millisecond

// queueList returns the queues the dispatcher claims from: the configured
// ones and those learned from workers' announcements.
func (e *Engine) queueList() []Queue {
	e.qmu.RLock()
	defer e.qmu.RUnlock()
	return e.queues
}

// isExternal reports whether queue is served elsewhere: by workers on the
// bus or by pull workers.
func (e *Engine) isExternal(queue string) bool {
	e.qmu.RLock()
	defer e.qmu.RUnlock()
	return e.external[queue]
}

// learnQueue makes queue one this engine claims for workers elsewhere on
// the bus, unless the engine serves it already (its own queues, its pull
// queues): a worker announced it.
func (e *Engine) learnQueue(queue, worker string) {
	e.qmu.Lock()
	if e.external[queue] || slices.ContainsFunc(e.queues, func(q Queue) bool { return q.Name == queue }) {
		e.qmu.Unlock()
		return
	}
	e.external[queue] = true
	// A new slice: queueList's callers hold the old one without a lock.
	e.queues = append(slices.Clip(e.queues), Queue{Name: queue, External: true})
	e.qmu.Unlock()
	e.cfg.Metrics.KnowQueues(queue)
	e.logger.Info("engine: queue served by workers on the bus", "queue", queue, "worker", worker)
	e.notify()
}

// consumeAnnouncements records the announcements of workers on the bus
// until ctx is done.
func (e *Engine) consumeAnnouncements(ctx context.Context, c bus.Consumer) {
	for {
		ds, err := c.Receive(ctx, 100)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, bus.ErrClosed) {
				return
			}
			if !errors.Is(err, bus.ErrMalformed) {
				e.logger.Error("engine: receive worker announcements", "err", err)
				if sleepReal(ctx, time.Second) != nil {
					return
				}
			}
			continue
		}
		// Only the newest announcement of each worker in the batch counts.
		latest := map[string]*Announcement{}
		for _, d := range ds {
			a, err := decodeAnnouncement(&d.Message)
			if err != nil {
				e.logger.Warn("engine: worker announcement dropped", "worker", d.ID, "err", err)
				continue
			}
			if old := latest[a.ID]; old == nil || !a.Sent.Before(old.Sent) {
				latest[a.ID] = a
			}
		}
		for _, id := range slices.Sorted(maps.Keys(latest)) {
			e.recordAnnouncement(ctx, latest[id])
		}
		if err := bus.AckAll(ctx, ds); err != nil && ctx.Err() == nil && !errors.Is(err, bus.ErrClosed) {
			e.logger.Warn("engine: acknowledge worker announcements", "n", len(ds), "err", err)
		}
	}
}

// decodeAnnouncement reads the Announcement a message carries.
func decodeAnnouncement(m *bus.Message) (*Announcement, error) {
	if m.Type != AnnounceType {
		return nil, fmt.Errorf("type %q is not %q", m.Type, AnnounceType)
	}
	var a Announcement
	if err := json.Unmarshal(m.Input, &a); err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	if err := a.validate(); err != nil {
		return nil, err
	}
	return &a, nil
}

// recordAnnouncement puts a worker's announcement in the store's worker
// list, or takes the worker off it once it stopped, and learns its
// queues. An announcement sent longer than a lease ago (read late, after
// the engine was down) is stale: the worker may be long gone.
func (e *Engine) recordAnnouncement(ctx context.Context, a *Announcement) {
	now := e.clock.Now()
	if a.State == WorkerStopped {
		if err := e.store.DeleteWorker(ctx, a.ID); err != nil && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			e.logger.Warn("engine: forget stopped worker", "worker", a.ID, "err", err)
		}
		return
	}
	// A worker's clock may be ahead of this one: it is never seen later
	// than now.
	seen := now
	if !a.Sent.IsZero() && a.Sent.Before(now) {
		seen = a.Sent
	}
	if now.Sub(seen) > e.cfg.LeaseDuration {
		return
	}
	for _, q := range a.Queues {
		e.learnQueue(q, a.ID)
	}
	err := e.store.UpsertWorker(ctx, store.WorkerInfo{
		ID: a.ID, Hostname: a.Host, Queues: a.Queues, Started: a.Started, LastHeartbeat: seen,
		Running: a.Running, Concurrency: max(a.Concurrency, 1), InFlight: a.InFlight, Version: a.Version,
	})
	if err != nil && ctx.Err() == nil {
		e.logger.Warn("engine: record worker announcement", "worker", a.ID, "err", err)
	}
}

// learnFromStore learns the queues of the bus workers other engines
// sharing the store recorded: an announcement reaches only one engine of
// AnnounceGroup. Bus workers are those with a Concurrency; engines and
// pull workers record none.
func (e *Engine) learnFromStore(ctx context.Context) {
	ws, err := e.store.ListWorkers(ctx, e.clock.Now().Add(-e.cfg.LeaseDuration))
	if err != nil {
		if ctx.Err() == nil {
			e.logger.Warn("engine: list workers", "err", err)
		}
		return
	}
	for _, w := range ws {
		if w.Concurrency > 0 {
			for _, q := range w.Queues {
				e.learnQueue(q, w.ID)
			}
		}
	}
}

// sleepReal waits d of real time, or until ctx is done.
func sleepReal(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// CancelType is the Type of a message on a worker's control queue
// (ControlQueue) asking it to stop one attempt: the message's ID and
// Attempt name it, its Info says why.
const CancelType = "loom.cancel"

// controlGroup is the consumer group a worker reads its control queue in.
const controlGroup = "worker"

// ControlQueue is the bus queue on which the worker with id receives
// what the servers ask of it: stop an attempt. Workers with a stable id
// keep one such queue across restarts.
func ControlQueue(id string) string { return "_control." + id }

// errRemoteStop is the cause of an attempt a server asked its worker to
// stop: like a lost lease, the attempt has no result to report.
var errRemoteStop = fmt.Errorf("%w: the server stopped the attempt", errLeaseLost)

// remoteStopTries bounds how often stopRemote looks for the worker that
// runs an attempt: a worker announces an attempt it starts at once, but a
// cancel may come before that announcement is recorded.
const remoteStopTries = 20

// stopRemote asks the worker elsewhere on the bus that runs attempt l to
// stop it, in the background: the task was cancelled, or its lease is no
// longer this engine's. The worker is the one whose latest announcement
// lists the task (the store's worker list, so that any engine sharing the
// store finds it); until one does, it looks again a few times.
func (e *Engine) stopRemote(l store.Lease, cause error) {
	e.remoteStops.Add(1)
	go func() {
		defer e.remoteStops.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for range remoteStopTries {
			id, err := e.runningOn(ctx, l.ID)
			if err != nil {
				e.logger.Warn("engine: find the worker of a stopped attempt", "task", l.ID, "err", err)
				return
			}
			if id != "" {
				m := bus.Message{ID: l.ID, Attempt: l.Attempt, Type: CancelType, Info: cause.Error()}
				if err := e.bus.Publish(ctx, ControlQueue(id), m); err != nil && !errors.Is(err, bus.ErrClosed) {
					e.logger.Warn("engine: ask a worker to stop an attempt", "task", l.ID, "worker", id, "err", err)
				}
				return
			}
			if sleepReal(ctx, 150*time.Millisecond) != nil {
				return
			}
		}
	}()
}

// runningOn returns the id of the bus worker whose latest announcement
// lists task id as running, "" when none does.
func (e *Engine) runningOn(ctx context.Context, id string) (string, error) {
	ws, err := e.recentWorkers(ctx)
	if err != nil {
		return "", err
	}
	for _, w := range ws {
		if w.Concurrency > 0 && slices.Contains(w.Running, id) {
			return w.ID, nil
		}
	}
	return "", nil
}

// consumeControl carries out what the servers ask of the worker on its
// control queue until ctx is done.
func (w *Worker) consumeControl(ctx context.Context, c bus.Consumer) {
	for {
		ds, err := c.Receive(ctx, 100)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, bus.ErrClosed) {
				return
			}
			if !errors.Is(err, bus.ErrMalformed) {
				w.cfg.Logger.Error("engine: worker: receive control messages", "err", err)
				if sleepReal(ctx, time.Second) != nil {
					return
				}
			}
			continue
		}
		for _, d := range ds {
			if d.Type == CancelType && w.stopAttempt(d.ID, d.Attempt) {
				w.cfg.Logger.Info("worker stopping an attempt the server gave up", "task", d.ID, "attempt", d.Attempt, "reason", d.Info)
			}
		}
		if err := bus.AckAll(ctx, ds); err != nil && ctx.Err() == nil && !errors.Is(err, bus.ErrClosed) {
			w.cfg.Logger.Warn("engine: worker: acknowledge control messages", "n", len(ds), "err", err)
		}
	}
}

// stopAttempt cancels the running attempt of task id, if it runs here,
// and reports whether it did.
func (w *Worker) stopAttempt(id string, attempt int) bool {
	w.mu.Lock()
	r := w.running[attemptKey{id, attempt}]
	w.mu.Unlock()
	if r == nil || r.cancel == nil {
		return false
	}
	r.cancel(errRemoteStop)
	return true
}

// nudgeAnnounce asks the announcer to announce soon: an attempt started,
// and a server that cancels it must find the worker that runs it.
func (w *Worker) nudgeAnnounce() {
	select {
	case w.nudge <- struct{}{}:
	default:
	}
}

// workersFresh is how long recentWorkers reuses a worker list: many
// attempts stopped at once (a reap, a bulk cancel) cost one query.
const workersFresh = 100 * time.Millisecond

// workerCache is the latest worker list recentWorkers read.
type workerCache struct {
	mu sync.Mutex
	at time.Time
	ws []store.WorkerInfo
}

// recentWorkers returns the workers seen within a lease, as the store
// listed them at most workersFresh ago.
func (e *Engine) recentWorkers(ctx context.Context) ([]store.WorkerInfo, error) {
	c := &e.workerCache
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < workersFresh {
		return c.ws, nil
	}
	ws, err := e.store.ListWorkers(ctx, e.clock.Now().Add(-e.cfg.LeaseDuration))
	if err != nil {
		return nil, err
	}
	c.at, c.ws = time.Now(), ws
	return ws, nil
}
