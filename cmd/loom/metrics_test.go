package main

import (
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
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
