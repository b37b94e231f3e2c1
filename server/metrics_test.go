package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/loomhq/loom/server"
)

// TestTraceParentOfSubmit: a task submitted with a traceparent header
// continues the caller's trace, even with tracing off in the server, so
// that its attempts (and the http calls they make) join it.
func TestTraceParentOfSubmit(t *testing.T) {
	t.Parallel()
	e := setup(t, false, server.Config{})
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/tasks", strings.NewReader(`{"type": "echo"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+trace+"-00f067aa0ba902b7-01")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit: %d", resp.StatusCode)
	}
	list := e.do(t, "GET", "/api/v1/tasks", "")
	if !strings.Contains(string(list.body), `"traceparent":"00-`+trace+"-") {
		t.Errorf("the task does not continue the caller's trace: %s", list.body)
	}
}

// TestMetricsRoute: Config.Metrics is served at GET /metrics, outside the
// API prefix, to viewers; without it /metrics is not found.
func TestMetricsRoute(t *testing.T) {
	t.Parallel()
	e := setup(t, false, server.Config{Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "loom_up 1\n")
	})})
	if r := e.do(t, "GET", "/metrics", ""); r.status != 200 || string(r.body) != "loom_up 1\n" {
		t.Errorf("GET /metrics: %d %q", r.status, r.body)
	}
	plain := setup(t, false, server.Config{})
	if r := plain.do(t, "GET", "/metrics", ""); r.status != 404 {
		t.Errorf("GET /metrics without Config.Metrics: %d", r.status)
	}
}
