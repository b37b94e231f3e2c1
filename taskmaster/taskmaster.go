package taskmaster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
)

// Errors callers branch on with errors.Is. The store's ErrNotFound and
// ErrDuplicate pass through unchanged.
var (
	// ErrInvalid wraps every validation error: a bad name, cron
	// expression, filter or duration. The API answers 422.
	ErrInvalid = errors.New("taskmaster: invalid definition")
	// ErrUnauthorized is returned for a webhook whose signature does not
	// verify. The API answers 401.
	ErrUnauthorized = errors.New("taskmaster: webhook signature rejected")
)

// Defaults of Config's zero fields.
const (
	DefaultPollInterval     = time.Second
	DefaultMaxSleep         = time.Minute
	DefaultBacklogThreshold = 1000
	DefaultBacklogInterval  = 30 * time.Second
	DefaultDeliveryAttempts = 5
	DefaultDeliveryBackoff  = time.Second
	DefaultDeliveryTimeout  = 10 * time.Second
	DefaultMaxBacklog       = 100
	DefaultWebhookWindow    = 24 * time.Hour
	DefaultBackfillPoll     = 5 * time.Second
)

// Config configures a Taskmaster. Engine and Store are required; every
// zero value means the default stated on its field.
type Config struct {
	// Engine creates the tasks. Required.
	Engine *engine.Engine
	// Store keeps schedules, triggers, checks and alerts; it must be the
	// engine's store (or share its database) so that idempotency keys
	// dedupe across both. Required.
	Store store.TaskmasterStore
	// Clock is the source of time for every loop. Default loom.SystemClock.
	Clock loom.Clock
	// Logger receives the loops' logs. Default slog.Default().
	Logger *slog.Logger
	// HTTPClient delivers notifications. Default a client with a
	// DefaultDeliveryTimeout (10s) timeout.
	HTTPClient *http.Client
	// PollInterval is how often the event log is read for ended tasks
	// (completion triggers, failure alerts). Default 1s.
	PollInterval time.Duration
	// MaxSleep bounds how long the scheduler, check watcher and notifier
	// sleep when nothing is due, so that changes another process made to a
	// shared store are noticed. Changes made through this Taskmaster wake
	// them at once. Default 1m.
	MaxSleep time.Duration
	// BacklogThreshold is the pending count above which a queue raises a
	// queue_backlog alert, unless a notifier sets its own. Default 1000.
	BacklogThreshold int
	// BacklogInterval is how often queues are counted. Default 30s.
	BacklogInterval time.Duration
	// DeliveryBackoff is the wait before a failed delivery's second
	// attempt, doubled for each later one (up to 5m). Default 1s.
	DeliveryBackoff time.Duration
	// MaxBacklog bounds the runs an OverlapQueue schedule keeps waiting;
	// older ones are dropped. Default 100.
	MaxBacklog int
	// WebhookWindow is how long a webhook signed the GitHub way
	// (X-Hub-Signature-256, no timestamp) is remembered: the same body
	// posted again within it is a replay and starts nothing. Timestamped
	// signatures are remembered for as long as their timestamp is
	// accepted. Default 24h.
	WebhookWindow time.Duration
	// Elected says that this Taskmaster runs only while its server leads
	// the servers sharing the store (package cluster): Run is called once
	// per term of lead, and StartBackfill on a server that does not lead
	// stores the backfill for the leader, whose Run looks for new ones
	// every BackfillPoll. Default false: one server, and StartBackfill
	// starts the backfill at once.
	Elected bool
	// BackfillPoll is how often an Elected Taskmaster's Run looks for
	// backfills stored by other servers. Default 5s.
	BackfillPoll time.Duration
}

func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = loom.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: DefaultDeliveryTimeout}
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.MaxSleep <= 0 {
		c.MaxSleep = DefaultMaxSleep
	}
	if c.BacklogThreshold <= 0 {
		c.BacklogThreshold = DefaultBacklogThreshold
	}
	if c.BacklogInterval <= 0 {
		c.BacklogInterval = DefaultBacklogInterval
	}
	if c.DeliveryBackoff <= 0 {
		c.DeliveryBackoff = DefaultDeliveryBackoff
	}
	if c.MaxBacklog <= 0 {
		c.MaxBacklog = DefaultMaxBacklog
	}
	if c.WebhookWindow <= 0 {
		c.WebhookWindow = DefaultWebhookWindow
	}
	if c.BackfillPoll <= 0 {
		c.BackfillPoll = DefaultBackfillPoll
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Engine == nil:
		return fmt.Errorf("%w: Config.Engine is required", ErrInvalid)
	case c.Store == nil:
		return fmt.Errorf("%w: Config.Store is required", ErrInvalid)
	}
	return nil
}

// Taskmaster runs the loops that create tasks from schedules, events and
// other tasks, and that watch for failures and silence. Its methods are
// what the API calls; they are safe for concurrent use and work whether
// or not Run is running (the loops then catch up when it starts).
type Taskmaster struct {
	cfg    Config
	eng    *engine.Engine
	st     store.TaskmasterStore
	clock  loom.Clock
	logger *slog.Logger

	// wake channels nudge a loop after a change made through the API.
	wakeScheduler chan struct{}
	wakeChecks    chan struct{}
	wakeNotifier  chan struct{}

	// lastWebhookPrune is when expired webhook deliveries were last
	// forgotten, in Unix nanoseconds.
	lastWebhookPrune atomic.Int64

	// open caches the keys of open alerts, so that the loops only write
	// to resolve what is open. Loaded by Run; a miss falls back to the
	// store, which dedupes anyway.
	mu   sync.Mutex
	open map[string]bool

	// backfills run under bfCtx, cancelled when Run ends (and made anew
	// when Run starts again); running holds the cancel functions of those
	// under way, by id, so that none runs twice and a cancel stops one at
	// once. active is true while Run runs.
	active    bool
	backfills sync.WaitGroup
	bfCtx     context.Context
	bfCancel  context.CancelFunc
	running   map[string]context.CancelFunc

	// filters are the triggers' compiled filters.
	filters filterCache
}

// New returns a Taskmaster configured by cfg. It does no I/O: Run starts
// the loops.
func New(cfg Config) (*Taskmaster, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("taskmaster: config: %w", err)
	}
	bfCtx, bfCancel := context.WithCancel(context.Background())
	return &Taskmaster{
		bfCtx: bfCtx, bfCancel: bfCancel, running: map[string]context.CancelFunc{},
		cfg: cfg, eng: cfg.Engine, st: cfg.Store, clock: cfg.Clock, logger: cfg.Logger,
		wakeScheduler: make(chan struct{}, 1),
		wakeChecks:    make(chan struct{}, 1),
		wakeNotifier:  make(chan struct{}, 1),
		open:          map[string]bool{},
	}, nil
}

// Run runs the scheduler, the event-log follower, the check watcher, the
// backlog watcher, the notifier and unfinished backfills until ctx is
// done, then waits for them to stop. It returns nil after a clean stop.
// It may be called again once it returned (an Elected Taskmaster's next
// term of lead), never twice at once.
func (t *Taskmaster) Run(ctx context.Context) error {
	t.mu.Lock()
	if t.bfCtx.Err() != nil {
		t.bfCtx, t.bfCancel = context.WithCancel(context.Background())
	}
	t.active = true
	bfCancel := t.bfCancel
	t.mu.Unlock()
	// Backfills started through StartBackfill before or while Run starts
	// stop with it too, whichever way it returns.
	stop := context.AfterFunc(ctx, bfCancel)
	defer stop()
	defer t.backfills.Wait()
	defer func() {
		t.mu.Lock()
		t.active = false
		t.mu.Unlock()
		bfCancel()
	}()
	alerts, err := t.st.ListAlerts(ctx, &store.ListAlertsParams{OpenOnly: true, Limit: 10000})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("taskmaster: load open alerts: %w", err)
	}
	t.mu.Lock()
	for _, a := range alerts {
		t.open[a.Key] = true
	}
	t.mu.Unlock()
	var wg sync.WaitGroup
	loops := []func(context.Context){t.runScheduler, t.runFollower, t.runChecks, t.runBacklog, t.runNotifier}
	if t.cfg.Elected {
		loops = append(loops, t.watchBackfills)
	}
	for _, loop := range loops {
		wg.Go(func() { loop(ctx) })
	}
	t.resumeBackfills(ctx)
	wg.Wait()
	return nil
}

// wake nudges a loop without blocking.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// sleep waits for d on the clock, a wake-up, or ctx; it reports false when
// ctx is done.
func (t *Taskmaster) sleep(ctx context.Context, d time.Duration, woken <-chan struct{}) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := t.clock.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C():
	case <-woken:
	}
	return true
}

// namePattern is what names of schedules, triggers, checks and notifiers
// may be: they appear in URLs, idempotency keys and alert keys.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func validName(what, name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%w: %s name %q: use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, what, name)
	}
	return nil
}

// submitParams turns a task template into the engine's parameters.
func (t *Taskmaster) submitParams(tpl *store.TaskTemplate, input loom.Values, key string, runAt time.Time, attrs map[string]any) (*engine.SubmitParams, error) {
	p := &engine.SubmitParams{
		Type: tpl.Type, Queue: tpl.Queue, Info: tpl.Info, Input: input, Priority: tpl.Priority,
		MaxAttempts: tpl.MaxAttempts, IdempotencyKey: key, RunAt: runAt,
	}
	if p.Input == nil && len(tpl.Input) > 0 {
		p.Input = tpl.Input.Clone()
	}
	if len(tpl.Attributes) > 0 || len(attrs) > 0 {
		p.Attributes = make(map[string]any, len(tpl.Attributes)+len(attrs))
		for k, v := range tpl.Attributes {
			p.Attributes[k] = v
		}
		for k, v := range attrs {
			p.Attributes[k] = v
		}
	}
	if tpl.Timeout != "" {
		d, err := time.ParseDuration(tpl.Timeout)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%w: task timeout %q is not a positive duration like \"30m\"", ErrInvalid, tpl.Timeout)
		}
		p.Timeout = d
	}
	return p, nil
}

// validateTemplate checks a task template against the engine's types.
func (t *Taskmaster) validateTemplate(tpl *store.TaskTemplate) error {
	if tpl.Type == "" {
		return fmt.Errorf("%w: task.type is required", ErrInvalid)
	}
	// Asked first, so that a type left out on purpose (exec) is refused
	// with the reason rather than as unknown.
	if err := t.admit(tpl); err != nil {
		return err
	}
	known := false
	for _, name := range t.eng.Types() {
		if name == tpl.Type {
			known = true
			break
		}
	}
	if !known {
		return fmt.Errorf("%w: task.type %q is not a registered task type or flow", ErrInvalid, tpl.Type)
	}
	if tpl.MaxAttempts < 0 {
		return fmt.Errorf("%w: task.max_attempts must not be negative", ErrInvalid)
	}
	p, err := t.submitParams(tpl, nil, "", time.Time{}, nil)
	if err != nil {
		return err
	}
	if err := p.Validate(t.clock.Now()); err != nil {
		return fmt.Errorf("%w: task: %w", ErrInvalid, err)
	}
	return nil
}

// admit asks the engine whether a task template may be submitted as it is.
func (t *Taskmaster) admit(tpl *store.TaskTemplate) error {
	p, err := t.submitParams(tpl, nil, "", time.Time{}, nil)
	if err != nil {
		return err
	}
	if err := t.eng.Admit(p); err != nil {
		return fmt.Errorf("%w: task: %w", ErrInvalid, err)
	}
	return nil
}
