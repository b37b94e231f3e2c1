package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServerMetrics: GET /metrics on the main listener needs a token
// (viewer or above) once authentication is on, counts a known workload,
// and --metrics-listen serves the same metrics without a token.
func TestServerMetrics(t *testing.T) {
	db := filepath.Join(t.TempDir(), "loom.db")
	viewer, _, code := runMainEnv(t, nil, "tokens", "create", "scraper", "--role", "viewer", "--db", db)
	if code != 0 {
		t.Fatalf("create viewer token: exit %d", code)
	}
	operator, _, code := runMainEnv(t, nil, "tokens", "create", "ops", "--role", "operator", "--db", db)
	if code != 0 {
		t.Fatalf("create operator token: exit %d", code)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := ln.Addr().String()
	_ = ln.Close()
	url, stop := inProcessServer(t, db, "--allow-exec", "--metrics-listen", metricsAddr)
	defer stop()

	for i := range 5 {
		cmd := "true"
		if i < 2 {
			cmd = "false"
		}
		runMainEnv(t, nil, "--server", url, "--token", strings.TrimSpace(operator), "submit", "exec", "--input", `{"command":["`+cmd+`"]}`, "--wait")
	}

	get := func(url, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(token))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(url+"/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /metrics without a token: %d, want 401", code)
	}
	code, body := get(url+"/metrics", viewer)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics as viewer: %d\n%s", code, body)
	}
	for _, want := range []string{
		`loom_tasks_submitted_total{queue="default",type="exec"} 5`,
		`loom_tasks_finished_total{queue="default",result="completed",type="exec"} 3`,
		`loom_tasks_finished_total{queue="default",result="failed",type="exec"} 2`,
		`loom_attempt_duration_seconds_count{result="error",type="exec"} 2`,
		`loom_queue_depth{queue="default"} 0`,
		`loom_workers_alive 1`,
		`loom_build_info{commit=`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, other := get("http://"+metricsAddr+"/metrics", ""); code != http.StatusOK || !strings.Contains(other, "loom_tasks_submitted_total") {
		t.Errorf("GET --metrics-listen /metrics: %d", code)
	}
}

// TestLogFormatFlag refuses a log format it does not know.
func TestLogFormatFlag(t *testing.T) {
	_, errOut, code := runMainEnv(t, nil, "server", "--log-format", "xml", "--db", filepath.Join(t.TempDir(), "loom.db"))
	if code != 2 || !strings.Contains(errOut, "--log-format") {
		t.Errorf("--log-format xml: exit %d, %q", code, errOut)
	}
}

// TestServerJSONLogs: with --log-format json every line is a JSON object,
// and an API request's line names the trace of its traceparent header;
// --metrics-listen beyond loopback logs a warning.
func TestServerJSONLogs(t *testing.T) {
	var logs syncBuffer
	m := NewMain()
	m.Stdout, m.Stderr = &logs, &logs
	m.Getenv = func(string) string { return "" }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := m.ParseFlags(ctx, []string{"server", "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "loom.db"),
		"--workers", "-1", "--log-format", "json", "--metrics-listen", "0.0.0.0:0"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	url := ""
	for deadline := time.Now().Add(20 * time.Second); url == ""; time.Sleep(20 * time.Millisecond) {
		for _, l := range strings.Split(logs.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == "loom server listening" {
				url, _ = rec["url"].(string)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", logs.String())
		}
	}
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("GET", url+"/api/v1/tasks", nil)
	req.Header.Set("traceparent", "00-"+trace+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("server Run: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	var traced, warned bool
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", l)
			continue
		}
		if rec["msg"] == "http request" && rec["trace_id"] == trace {
			traced = true
		}
		if rec["level"] == "WARN" && strings.Contains(fmt.Sprint(rec["msg"]), "--metrics-listen") {
			warned = true
		}
	}
	if !traced {
		t.Errorf("no request line with trace_id %s:\n%s", trace, logs.String())
	}
	if !warned {
		t.Errorf("--metrics-listen 0.0.0.0 logged no warning:\n%s", logs.String())
	}
}
