package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of StoreConfig.
const (
	// DefaultStoreCacheTTL is how long gauges read from the store are
	// served again before a scrape reads them anew.
	DefaultStoreCacheTTL = 5 * time.Second
	// DefaultStoreTimeout bounds the store reads of one refresh.
	DefaultStoreTimeout = 5 * time.Second
	// DefaultWorkerTimeout is how long after its last heartbeat a worker
	// still counts as alive.
	DefaultWorkerTimeout = 30 * time.Second
)

// AlertLister is the part of a store that lists alerts
// (store.TaskmasterStore has it). A store without it reports no alert
// gauges.
type AlertLister interface {
	ListAlerts(ctx context.Context, p *store.ListAlertsParams) ([]*store.Alert, error)
}

// StoreConfig says where the gauges read on scrape come from.
type StoreConfig struct {
	// Store is read for queue counts, pending tasks' run times, workers,
	// and (when it is an AlertLister) open alerts. Required.
	Store store.Store
	// Clock gives the time a pending task's age is measured at. Default
	// loom.SystemClock.
	Clock loom.Clock
	// CacheTTL is how long one read of the store serves scrapes: however
	// often Prometheus (or several) scrape, the store is read at most once
	// per CacheTTL. Default DefaultStoreCacheTTL (5s).
	CacheTTL time.Duration
	// Timeout bounds one refresh's reads; when they fail the previous
	// values are served and loom_store_scrape_errors_total counts it.
	// Default DefaultStoreTimeout (5s).
	Timeout time.Duration
	// WorkerTimeout is how long after its last heartbeat a worker counts
	// as alive. Default DefaultWorkerTimeout (30s).
	WorkerTimeout time.Duration
	// Logger receives refresh errors. Default slog.Default().
	Logger *slog.Logger
}

// storeCollector computes gauges from the store when scraped, from a cache
// no older than CacheTTL.
type storeCollector struct {
	m   *Metrics
	cfg StoreConfig

	depth, oldest, running, workers, alerts, schedulesLate, checksLate, errors *prometheus.Desc

	mu      sync.Mutex
	read    time.Time // wall time of the last refresh attempt
	snap    snapshot
	errored float64
}

// snapshot is one reading of the store.
type snapshot struct {
	ok      bool
	depth   map[string]float64
	oldest  map[string]float64
	running map[string]float64
	workers float64
	alerts  map[string]float64
	hasAlts bool
}

// WatchStore registers the collector of the gauges read from cfg.Store.
// Only the first call has an effect, so that several engines sharing one
// Metrics (and one store) report the store once.
func (m *Metrics) WatchStore(cfg StoreConfig) {
	if m == nil || cfg.Store == nil {
		return
	}
	m.mu.Lock()
	if m.watched {
		m.mu.Unlock()
		return
	}
	m.watched = true
	m.mu.Unlock()
	if cfg.Clock == nil {
		cfg.Clock = loom.SystemClock{}
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultStoreCacheTTL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultStoreTimeout
	}
	if cfg.WorkerTimeout <= 0 {
		cfg.WorkerTimeout = DefaultWorkerTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
	}
	c := &storeCollector{
		m:             m,
		cfg:           cfg,
		depth:         desc("queue_depth", "Pending tasks of a queue, due or scheduled for later.", "queue"),
		oldest:        desc("queue_oldest_pending_age_seconds", "How long the longest-waiting due task of a queue has been due (0 when none is due).", "queue"),
		running:       desc("attempts_running", "Tasks running now, by queue (flows count while their steps run).", "queue"),
		workers:       desc("workers_alive", "Workers (engines and remote workers) that heart-beat within the worker timeout."),
		alerts:        desc("alerts_open", "Alerts not resolved, by kind.", "kind"),
		schedulesLate: desc("schedules_late", "Schedules whose run is late (open schedule_late alerts)."),
		checksLate:    desc("checks_late", "Heartbeat checks whose ping is late (open check_late alerts)."),
		errors:        desc("store_scrape_errors_total", "Refreshes of the store gauges that failed; the previous values were served."),
	}
	m.reg.MustRegister(c)
	m.mu.Lock()
	m.names = append(m.names, "loom_queue_depth", "loom_queue_oldest_pending_age_seconds", "loom_attempts_running",
		"loom_workers_alive", "loom_alerts_open", "loom_schedules_late", "loom_checks_late", "loom_store_scrape_errors_total")
	m.mu.Unlock()
}

// Describe sends the descriptors of every gauge.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.depth, c.oldest, c.running, c.workers, c.alerts, c.schedulesLate, c.checksLate, c.errors} {
		ch <- d
	}
}

// Collect sends the gauges, reading the store first when the cached
// reading is older than CacheTTL. Concurrent scrapes wait for one read.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if c.read.IsZero() || time.Since(c.read) >= c.cfg.CacheTTL {
		c.read = time.Now()
		snap, err := c.refresh()
		if err != nil {
			c.errored++
			c.cfg.Logger.Warn("metrics: read store gauges", "err", err)
		} else {
			c.snap = snap
		}
	}
	snap, errored := c.snap, c.errored
	c.mu.Unlock()

	ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, errored)
	if !snap.ok {
		return
	}
	for q, v := range snap.depth {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, v, q)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, snap.oldest[q], q)
		ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, snap.running[q], q)
	}
	ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, snap.workers)
	if snap.hasAlts {
		for kind, v := range snap.alerts {
			ch <- prometheus.MustNewConstMetric(c.alerts, prometheus.GaugeValue, v, kind)
		}
		ch <- prometheus.MustNewConstMetric(c.schedulesLate, prometheus.GaugeValue, snap.alerts[store.AlertScheduleLate])
		ch <- prometheus.MustNewConstMetric(c.checksLate, prometheus.GaugeValue, snap.alerts[store.AlertCheckLate])
	}
}

// alertKinds are the kinds loom_alerts_open always reports, zero or not,
// so that a dashboard and an alert rule see a series from the start.
var alertKinds = []string{
	store.AlertTaskFailed, store.AlertFlowFailed, store.AlertBreakerOpen, store.AlertScheduleLate,
	store.AlertCheckLate, store.AlertQueueBacklog, store.AlertTriggerFailed,
}

// maxOpenAlerts bounds the alerts one refresh reads; more open alerts than
// that are counted as that many.
const maxOpenAlerts = 10000

// refresh reads the store once.
func (c *storeCollector) refresh() (snapshot, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	st := c.cfg.Store
	now := c.cfg.Clock.Now()
	s := snapshot{ok: true, depth: map[string]float64{}, oldest: map[string]float64{}, running: map[string]float64{}}
	for _, q := range c.m.knownQueues() {
		s.depth[q], s.running[q] = 0, 0
	}
	qs, err := st.ListQueues(ctx)
	if err != nil {
		return s, err
	}
	for _, q := range qs {
		l := c.m.queueLabel(q.Name)
		s.depth[l] += float64(q.Pending)
		s.running[l] += float64(q.Running)
		if l == OtherLabel || q.Pending == 0 {
			continue
		}
		at, ok, err := st.NextRunAt(ctx, []string{q.Name})
		if err != nil {
			return s, err
		}
		if ok && at.Before(now) {
			s.oldest[l] = now.Sub(at).Seconds()
		}
	}
	ws, err := st.ListWorkers(ctx, now.Add(-c.cfg.WorkerTimeout))
	if err != nil {
		return s, err
	}
	s.workers = float64(len(ws))
	if al, ok := st.(AlertLister); ok {
		as, err := al.ListAlerts(ctx, &store.ListAlertsParams{OpenOnly: true, Limit: maxOpenAlerts})
		if err != nil {
			return s, err
		}
		s.hasAlts = true
		s.alerts = make(map[string]float64, len(alertKinds))
		for _, k := range alertKinds {
			s.alerts[k] = 0
		}
		for _, a := range as {
			if _, known := s.alerts[a.Kind]; known {
				s.alerts[a.Kind]++
			} else {
				s.alerts[OtherLabel]++
			}
		}
	}
	return s, nil
}

// knownQueues lists the queues made known, which always have gauges.
func (m *Metrics) knownQueues() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	qs := make([]string, 0, len(m.queues))
	for q := range m.queues {
		qs = append(qs, q)
	}
	return qs
}
