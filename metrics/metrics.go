// Package metrics is loom's Prometheus instrumentation: the counters and
// histograms the engine feeds as tasks move (submitted, started, finished,
// retried; attempt duration, submit-to-start latency; reaped leases; store
// operation latency), the bus deliveries an instrumented bus counts, the
// gauges read from the store when Prometheus scrapes (queue depth, oldest
// pending task, running attempts, workers alive, open alerts, late
// schedules and checks), circuit breaker state, and the Go and process
// collectors. Handler serves them in the Prometheus text format.
//
// Every label value is bounded: task types and queues are the ones made
// known (KnowTypes, KnowQueues; the engine tells its registered types and
// configured queues), any other is counted under OtherLabel. No label ever
// carries a task id. A nil *Metrics is valid and records nothing, so that
// code paths without metrics pay only a nil check.
package metrics

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every loom metric name.
const Namespace = "loom"

// OtherLabel is the type or queue label of a task whose type or queue was
// not made known: it keeps a stream of made-up names from growing the
// number of series without bound.
const OtherLabel = "_other"

// Label values of loom_tasks_finished_total's result, the status a task
// ended in.
const (
	ResultCompleted = "completed"
	ResultFailed    = "failed"
	ResultCancelled = "cancelled"
	ResultSkipped   = "skipped"
)

// The buckets of the duration histograms, in seconds: attempts run from
// milliseconds to hours; store calls and start latencies are short.
var (
	attemptBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}
	latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	storeBuckets   = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
)

// Metrics holds loom's collectors and the registry they are registered
// in. Create it with New; its methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	submitted   *prometheus.CounterVec
	started     *prometheus.CounterVec
	finished    *prometheus.CounterVec
	retries     *prometheus.CounterVec
	attempt     *prometheus.HistogramVec
	latency     *prometheus.HistogramVec
	reaped      prometheus.Counter
	deliveries  *prometheus.CounterVec
	redelivered *prometheus.CounterVec
	storeOps    *prometheus.HistogramVec
	breaker     *prometheus.GaugeVec

	// names are the metric names loom registers, for Names.
	names []string

	mu      sync.RWMutex
	types   map[string]bool
	queues  map[string]bool
	watched bool
}

// New returns Metrics registered in a registry of their own, with the Go
// runtime and process collectors beside them.
func New() *Metrics {
	m := &Metrics{
		reg:    prometheus.NewRegistry(),
		types:  make(map[string]bool),
		queues: make(map[string]bool),
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		m.names = append(m.names, prometheus.BuildFQName(Namespace, "", name))
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		m.names = append(m.names, prometheus.BuildFQName(Namespace, "", name))
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	}
	m.submitted = counter("tasks_submitted_total", "Tasks created: submitted through the API or a taskmaster, and flow steps.", "type", "queue")
	m.started = counter("tasks_started_total", "Attempts claimed and handed to a worker (flows: runs taken over by the engine).", "type", "queue")
	m.finished = counter("tasks_finished_total", "Tasks that ended, by the status they ended in (completed, failed, cancelled, skipped).", "type", "queue", "result")
	m.retries = counter("task_retries_total", "Failed attempts that go back to pending for another attempt.", "type")
	m.attempt = histogram("attempt_duration_seconds", "How long attempts ran on their worker, by result (complete, error).", attemptBuckets, "type", "result")
	m.latency = histogram("task_start_latency_seconds", "From a task's submit (or its run_at, when later) to its first attempt being handed to a worker.", latencyBuckets, "queue")
	m.names = append(m.names, "loom_leases_reaped_total", "loom_breaker_state")
	m.reaped = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "leases_reaped_total",
		Help: "Running attempts whose lease lapsed without a result and which the reaper took back."})
	m.deliveries = counter("bus_deliveries_total", "Messages received from the bus: ready tasks by workers (stream ready), results by engines (stream done).", "stream", "queue")
	m.redelivered = counter("bus_redeliveries_total", "Messages the bus delivered again after an earlier delivery was not acknowledged.", "stream", "queue")
	m.storeOps = histogram("store_operation_duration_seconds", "Latency of the engine's store calls, by operation.", storeBuckets, "op", "outcome")
	m.breaker = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "breaker_state",
		Help: "Circuit breaker state of a task type as last seen by this process: 0 closed, 1 half-open, 2 open."}, []string{"type"})
	m.reg.MustRegister(m.submitted, m.started, m.finished, m.retries, m.attempt, m.latency, m.reaped,
		m.deliveries, m.redelivered, m.storeOps, m.breaker,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Names lists the names of loom's own metrics (not the Go and process
// collectors'), whether or not they have a series yet: a labelled metric
// shows in the exposition only once something was counted under a label.
// The store gauges are listed once WatchStore registered them, and
// loom_build_info once SetBuildInfo did.
func (m *Metrics) Names() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return slices.Clone(m.names)
}

// SetBuildInfo registers loom_build_info, always 1, whose labels name the
// running build: version, commit and Go version. Call it once.
func (m *Metrics) SetBuildInfo(version, commit, goVersion string) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info", Help: "Always 1; the labels name the running build.",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit, "goversion": goVersion},
	}, func() float64 { return 1 }))
	m.mu.Lock()
	m.names = append(m.names, "loom_build_info")
	m.mu.Unlock()
}

// Registry is where the metrics are registered; add collectors of your
// own to it to serve them on the same Handler.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text exposition format
// (or OpenMetrics, when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, EnableOpenMetrics: true})
}

// KnowTypes makes task types label values of their own; tasks of other
// types are counted under OtherLabel.
func (m *Metrics) KnowTypes(names ...string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range names {
		m.types[n] = true
	}
}

// KnowQueues makes queues label values of their own; tasks of other queues
// are counted under OtherLabel.
func (m *Metrics) KnowQueues(names ...string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range names {
		m.queues[n] = true
	}
}

// typeLabel is the label value of task type name.
func (m *Metrics) typeLabel(name string) string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.types[name] {
		return name
	}
	return OtherLabel
}

// queueLabel is the label value of queue name.
func (m *Metrics) queueLabel(name string) string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.queues[name] {
		return name
	}
	return OtherLabel
}

// Submitted counts a task created.
func (m *Metrics) Submitted(typ, queue string) {
	if m == nil {
		return
	}
	m.submitted.WithLabelValues(m.typeLabel(typ), m.queueLabel(queue)).Inc()
}

// Started counts an attempt handed to a worker. wait is how long the task
// waited for it, observed for first attempts only (a retry's wait is its
// backoff, not latency); a negative wait is not observed.
func (m *Metrics) Started(typ, queue string, attempt int, wait time.Duration) {
	if m == nil {
		return
	}
	q := m.queueLabel(queue)
	m.started.WithLabelValues(m.typeLabel(typ), q).Inc()
	if attempt == 1 && wait >= 0 {
		m.latency.WithLabelValues(q).Observe(wait.Seconds())
	}
}

// Finished counts a task that ended with result, one of ResultCompleted,
// ResultFailed, ResultCancelled or ResultSkipped.
func (m *Metrics) Finished(typ, queue, result string) {
	if m == nil {
		return
	}
	m.finished.WithLabelValues(m.typeLabel(typ), m.queueLabel(queue), result).Inc()
}

// Retried counts a failed attempt whose task goes back to pending.
func (m *Metrics) Retried(typ string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(m.typeLabel(typ)).Inc()
}

// AttemptDone observes how long an attempt ran; ok says it completed.
func (m *Metrics) AttemptDone(typ string, ok bool, d time.Duration) {
	if m == nil || d < 0 {
		return
	}
	result := "error"
	if ok {
		result = "complete"
	}
	m.attempt.WithLabelValues(m.typeLabel(typ), result).Observe(d.Seconds())
}

// Reaped counts n attempts whose lease lapsed.
func (m *Metrics) Reaped(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.reaped.Add(float64(n))
}

// StoreOp starts timing one store call named op (a store.Store method,
// such as "ClaimTasks") and returns the function that ends it with the
// call's error: `defer m.StoreOp("ClaimTasks")(&err)` or an explicit call.
// It measures wall time whatever clock the caller runs on.
func (m *Metrics) StoreOp(op string) func(err error) {
	if m == nil {
		return func(error) {}
	}
	start := time.Now()
	return func(err error) {
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		m.storeOps.WithLabelValues(op, outcome).Observe(time.Since(start).Seconds())
	}
}
