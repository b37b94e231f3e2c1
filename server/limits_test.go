package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/server"
)

// nestedInput is a submit body whose whole text nests depth levels: the
// body's object is one, "input" another, and the rest are arrays.
func nestedInput(depth int) string {
	return `{"type":"echo","input":{"a":` + strings.Repeat("[", depth-2) + strings.Repeat("]", depth-2) + `}}`
}

func TestJSONDepthLimit(t *testing.T) {
	t.Parallel()
	e := setupTaskmaster(t)
	e.do(t, "POST", "/api/v1/tasks", nestedInput(server.MaxJSONDepth)).task(t, http.StatusCreated)
	deep := nestedInput(server.MaxJSONDepth + 1)
	msg := e.do(t, "POST", "/api/v1/tasks", deep).wantError(t, http.StatusBadRequest, server.CodeInvalid)
	if !strings.Contains(msg, fmt.Sprint(server.MaxJSONDepth)) {
		t.Errorf("message %q does not name the limit %d", msg, server.MaxJSONDepth)
	}
	// Brackets inside strings do not count.
	e.do(t, "POST", "/api/v1/tasks", `{"type":"echo","input":{"s":"`+strings.Repeat("[{", 500)+`"}}`).task(t, http.StatusCreated)

	// 10,000 levels, within the size limit: refused without decoding.
	huge := `{"type":"echo","input":{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}}`
	e.do(t, "POST", "/api/v1/tasks", huge).wantError(t, http.StatusBadRequest, server.CodeInvalid)

	// Every route that takes a body, including events and webhooks.
	e.do(t, "POST", "/api/v1/triggers", `{"name":"hook","kind":"event","secret":"s3cret","task":{"type":"echo"}}`)
	deepData := `{"a":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`
	for _, path := range []string{"/api/v1/events", "/api/v1/hooks/hook", "/api/v1/schedules", "/api/v1/tasks/x/cancel", "/api/v1/tasks/x/retry", "/api/v1/triggers"} {
		body := deepData
		if path == "/api/v1/events" {
			body = `{"type":"e","data":` + deepData + `}`
		}
		msg := e.do(t, "POST", path, body).wantError(t, http.StatusBadRequest, server.CodeInvalid)
		if !strings.Contains(msg, "deeper than 64") {
			t.Errorf("%s: message %q does not name the limit", path, msg)
		}
	}
}

func TestSubmitRanges(t *testing.T) {
	t.Parallel()
	e := setupTaskmaster(t)
	tests := []struct {
		name   string
		body   string
		status int
		field  string
	}{
		{"max_attempts max int64", `{"type":"echo","max_attempts":9223372036854775807}`, 422, "max_attempts"},
		{"max_attempts over the limit", `{"type":"echo","max_attempts":1001}`, 422, "max_attempts"},
		{"max_attempts beyond int64", `{"type":"echo","max_attempts":1e30}`, 400, "max_attempts"},
		{"priority over int32", `{"type":"echo","priority":2147483648}`, 422, "priority"},
		{"priority under int32", `{"type":"echo","priority":-2147483649}`, 422, "priority"},
		{"timeout in 9999", `{"type":"echo","timeout":"9999-12-31T00:00:00Z"}`, 422, "timeout"},
		{"timeout 2562047h", `{"type":"echo","timeout":"2562047h"}`, 422, "timeout"},
		{"timeout past 2262", `{"type":"echo","timeout":"2262-01-02T00:00:00Z"}`, 422, "timeout"},
		{"timeout overflowing", `{"type":"echo","timeout":"9999999999999h"}`, 400, "timeout"},
		{"run_at in 9999", `{"type":"echo","run_at":"9999-12-31T00:00:00Z"}`, 422, "run_at"},
		{"run_at before 1970", `{"type":"echo","run_at":"1600-01-01T00:00:00Z"}`, 422, "run_at"},
		{"run_at beyond year 9999", `{"type":"echo","run_at":"10000-01-01T00:00:00Z"}`, 400, "10000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := e.do(t, "POST", "/api/v1/tasks", tt.body).wantError(t, tt.status, server.CodeInvalid)
			if !strings.Contains(msg, tt.field) {
				t.Errorf("message %q does not name %s", msg, tt.field)
			}
		})
	}
	// The edges are accepted and read back as sent.
	task := e.do(t, "POST", "/api/v1/tasks",
		`{"type":"echo","max_attempts":1000,"priority":2147483647,"run_at":"2261-12-31T00:00:00Z","timeout":"2262-01-01T00:00:00Z"}`).task(t, http.StatusCreated)
	got := e.do(t, "GET", "/api/v1/tasks/"+task.ID, "").task(t, http.StatusOK)
	if got.MaxAttempts != 1000 || got.Priority != 2147483647 || got.RunAt.Year() != 2261 || got.Timeout.Year() != 2262 {
		t.Errorf("read back max_attempts %d priority %d run_at %s timeout %s", got.MaxAttempts, got.Priority, got.RunAt, got.Timeout)
	}
	// The largest budget survives cancel and retry.
	e.do(t, "POST", "/api/v1/tasks/"+task.ID+"/cancel", "").task(t, http.StatusOK)
	retried := e.do(t, "POST", "/api/v1/tasks/"+task.ID+"/retry", "").task(t, http.StatusOK)
	if retried.Status != loom.StatusPending {
		t.Errorf("retried task is %s", retried.Status)
	}
	e.do(t, "GET", "/api/v1/tasks/"+task.ID, "").task(t, http.StatusOK)

	for _, q := range []string{"limit=1001", "limit=-1", "limit=99999999999999999999", "limit=1e3"} {
		e.do(t, "GET", "/api/v1/tasks?"+q, "").wantError(t, http.StatusBadRequest, server.CodeInvalid)
	}
}

func TestTaskmasterRanges(t *testing.T) {
	t.Parallel()
	e := setupTaskmaster(t)
	tests := []struct {
		name, path, body string
		status           int
		field            string
	}{
		{"catch_up.limit", "/api/v1/schedules", `{"name":"a","cron":"@hourly","task":{"type":"echo"},"catch_up":{"mode":"run_all","limit":1001}}`, 422, "catch_up.limit"},
		{"catch_up.limit overflow", "/api/v1/schedules", `{"name":"a","cron":"@hourly","task":{"type":"echo"},"catch_up":{"limit":9223372036854775807}}`, 422, "catch_up.limit"},
		{"jitter", "/api/v1/schedules", `{"name":"a","cron":"@hourly","task":{"type":"echo"},"jitter":"2562047h"}`, 422, "jitter"},
		{"grace", "/api/v1/schedules", `{"name":"a","cron":"@hourly","task":{"type":"echo"},"grace":"9000h"}`, 422, "grace"},
		{"template max_attempts", "/api/v1/schedules", `{"name":"a","cron":"@hourly","task":{"type":"echo","max_attempts":9223372036854775807}}`, 422, "max_attempts"},
		{"template priority", "/api/v1/schedules", `{"name":"a","cron":"@hourly","task":{"type":"echo","priority":-9223372036854775808}}`, 422, "priority"},
		{"template timeout", "/api/v1/schedules", `{"name":"a","cron":"@hourly","task":{"type":"echo","timeout":"2562047h"}}`, 422, "timeout"},
		{"trigger template", "/api/v1/triggers", `{"name":"t","kind":"event","task":{"type":"echo","max_attempts":5000}}`, 422, "max_attempts"},
		{"check period", "/api/v1/checks", `{"name":"c","period":"2562047h"}`, 422, "period"},
		{"check grace", "/api/v1/checks", `{"name":"c","period":"1h","grace":"9000h"}`, 422, "grace"},
		{"notifier max_attempts", "/api/v1/notifiers", `{"name":"n","url":"http://127.0.0.1:1/","max_attempts":9223372036854775807}`, 422, "max_attempts"},
		{"notifier backlog_threshold", "/api/v1/notifiers", `{"name":"n","url":"http://127.0.0.1:1/","backlog_threshold":-1}`, 422, "backlog_threshold"},
		{"backfill from", "/api/v1/backfills", `{"cron":"@daily","task":{"type":"echo"},"from":"1600-01-01T00:00:00Z","to":"2000-01-01T00:00:00Z"}`, 422, "from"},
		{"backfill to", "/api/v1/backfills", `{"cron":"@daily","task":{"type":"echo"},"from":"2000-01-01T00:00:00Z","to":"9999-01-01T00:00:00Z"}`, 422, "to"},
		{"backfill without from", "/api/v1/backfills", `{"cron":"@daily","task":{"type":"echo"},"to":"2000-01-01T00:00:00Z"}`, 422, "from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := e.do(t, "POST", tt.path, tt.body).wantError(t, tt.status, server.CodeInvalid)
			if !strings.Contains(msg, tt.field) {
				t.Errorf("message %q does not name %s", msg, tt.field)
			}
		})
	}
	// PATCH goes through the same checks.
	e.do(t, "POST", "/api/v1/schedules", `{"name":"ok","cron":"@hourly","task":{"type":"echo"}}`)
	e.do(t, "PATCH", "/api/v1/schedules/ok", `{"jitter":"9000h"}`).wantError(t, 422, server.CodeInvalid)
	e.do(t, "POST", "/api/v1/checks", `{"name":"ok","period":"1h"}`)
	e.do(t, "PATCH", "/api/v1/checks/ok", `{"period":"9000h"}`).wantError(t, 422, server.CodeInvalid)
}

func TestNonCanonicalPathsAreNotRedirected(t *testing.T) {
	t.Parallel()
	e := setupStub(t, server.Config{})
	for _, p := range []string{"/api/v1", "/api/v1/tasks/../healthz", "/api/v1//healthz", "/api/v1/./healthz", "/api/v1/tasks/%2e%2e/queues", "/api/v1/tasks/x/.."} {
		e.do(t, "GET", p, "").wantError(t, http.StatusNotFound, server.CodeNotFound)
	}
	if r := e.do(t, "GET", "/api/v1/healthz", ""); r.status != http.StatusOK {
		t.Errorf("canonical path: %d %s", r.status, r.body)
	}
}
