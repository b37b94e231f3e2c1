package engine_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/metrics"
	dto "github.com/prometheus/client_model/go"
)

// TestMetricsAfterWorkload runs a known workload (3 tasks that complete,
// 2 that fail twice each) and reads the counters and histograms back.
func TestMetricsAfterWorkload(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	bad := loom.NewTask("bad", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
		return nil, errors.New("boom")
	}))
	bad.Retry = &loom.RetryPolicy{MaxAttempts: 2, InitialDelay: time.Millisecond}
	te := setup(t, nil, engine.Config{Metrics: m, Queues: []engine.Queue{{Name: "default"}, {Name: "ext", External: true}}}, noop("ok"), bad)
	var ids []string
	for i := range 5 {
		typ := "ok"
		if i%2 == 1 {
			typ = "bad"
		}
		ids = append(ids, te.submit(t, &engine.SubmitParams{Type: typ}).ID)
	}
	// A type only external workers know counts as _other: no label value
	// comes from what a submitter made up.
	te.submit(t, &engine.SubmitParams{Type: "made-up-type-1", Queue: "ext"})
	for _, id := range ids {
		te.wait(t, id)
	}

	fams := gather(t, m)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"loom_tasks_submitted_total", map[string]string{"type": "ok", "queue": "default"}, 3},
		{"loom_tasks_submitted_total", map[string]string{"type": "bad", "queue": "default"}, 2},
		{"loom_tasks_submitted_total", map[string]string{"type": metrics.OtherLabel, "queue": "ext"}, 1},
		{"loom_queue_depth", map[string]string{"queue": "ext"}, 0},
		{"loom_tasks_started_total", map[string]string{"type": "ok", "queue": "default"}, 3},
		{"loom_tasks_started_total", map[string]string{"type": "bad", "queue": "default"}, 4},
		{"loom_tasks_finished_total", map[string]string{"type": "ok", "queue": "default", "result": "completed"}, 3},
		{"loom_tasks_finished_total", map[string]string{"type": "bad", "queue": "default", "result": "failed"}, 2},
		{"loom_task_retries_total", map[string]string{"type": "bad"}, 2},
		{"loom_attempt_duration_seconds", map[string]string{"type": "ok", "result": "complete"}, 3},
		{"loom_attempt_duration_seconds", map[string]string{"type": "bad", "result": "error"}, 4},
		{"loom_task_start_latency_seconds", map[string]string{"queue": "default"}, 5},
		{"loom_bus_deliveries_total", map[string]string{"stream": "ready", "queue": "default"}, 7},
		{"loom_bus_deliveries_total", map[string]string{"stream": "done", "queue": ""}, 7},
		{"loom_queue_depth", map[string]string{"queue": "default"}, 0},
		{"loom_attempts_running", map[string]string{"queue": "default"}, 0},
		{"loom_workers_alive", nil, 1},
	}
	for _, c := range checks {
		got, ok := value(fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if got, ok := value(fams, "loom_store_operation_duration_seconds", map[string]string{"op": "InsertTasks", "outcome": "ok"}); !ok || got != 6 {
		t.Errorf("InsertTasks observed %v times, want 6", got)
	}
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if strings.Contains(l.GetValue(), "-") && len(l.GetValue()) >= 32 {
					t.Errorf("%s has a label value like a task id: %s=%s", f.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
	checkExposition(t, m)
}

// gather reads every metric of m.
func gather(t *testing.T, m *metrics.Metrics) []*dto.MetricFamily {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	return fams
}

// value returns the value of the series of name whose labels include
// labels: a counter's or gauge's value, a histogram's sample count.
func value(fams []*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, mt := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range mt.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			switch {
			case mt.Counter != nil:
				return mt.Counter.GetValue(), true
			case mt.Gauge != nil:
				return mt.Gauge.GetValue(), true
			case mt.Histogram != nil:
				return float64(mt.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

// checkExposition runs `promtool check metrics` on what the handler
// serves. promtool comes with Debian's prometheus package, which .ci/run
// installs; the check is skipped only outside CI without it.
func checkExposition(t *testing.T, m *metrics.Metrics) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Log("promtool not installed (apt-get install prometheus): exposition not linted")
			return
		}
		t.Fatal("promtool not installed; CI needs Debian's prometheus package")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(rec.Body.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
