package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/server"
	"github.com/loomhq/loom/store"
)

// stubStore is a store that holds nothing: enough for the requests that
// fail before they reach the engine, and for errors the engine cannot
// classify.
type stubStore struct {
	store.Store // nil: any method not below panics, which the test would see
}

func (stubStore) GetTask(_ context.Context, id string) (*loom.TaskInfo, error) {
	if id == "boom" {
		return nil, errors.New("disk on fire at /secret/path")
	}
	return nil, fmt.Errorf("task %s: %w", id, store.ErrNotFound)
}

func (stubStore) Close() error { return nil }

func setupStub(t *testing.T, cfg server.Config) *env {
	t.Helper()
	return setupWithStore(t, stubStore{}, nil, false, cfg)
}

func TestSubmitRejectsMalformedBodies(t *testing.T) {
	t.Parallel()
	e := setupStub(t, server.Config{MaxBodyBytes: 256})
	tests := []struct {
		name   string
		body   string
		status int
		code   string
		msg    string
	}{
		{"unknown field", `{"type":"echo","inptu":{}}`, 400, "invalid", `unknown field "inptu"`},
		{"malformed JSON", `{"type":`, 400, "invalid", "JSON"},
		{"syntax error", `{"type" "echo"}`, 400, "invalid", "malformed JSON"},
		{"trailing data", `{"type":"echo"} {"type":"echo"}`, 400, "invalid", "after the JSON object"},
		{"trailing garbage", `{"type":"echo"} x`, 400, "invalid", "malformed JSON"},
		{"empty body", ``, 400, "invalid", "required"},
		{"not an object", `[1,2]`, 400, "invalid", "JSON object"},
		{"wrong type", `{"type":"echo","priority":"high"}`, 400, "invalid", `"priority"`},
		{"missing type", `{"input":{}}`, 422, "invalid", `"type" is required`},
		{"negative attempts", `{"type":"echo","max_attempts":-1}`, 422, "invalid", "max_attempts"},
		{"bad timeout", `{"type":"echo","timeout":"soon"}`, 400, "invalid", "timeout"},
		{"past timeout", `{"type":"echo","timeout":"2001-01-01T00:00:00Z"}`, 422, "invalid", "not in the future"},
		{"too large", `{"type":"echo","info":"` + strings.Repeat("x", 300) + `"}`, 413, "too_large", "256 bytes"},
		{"retry without initial delay", `{"type":"echo","max_attempts":3,"retry":{"backoff_factor":2}}`, 422, "invalid", `"retry.initial_delay" is required`},
		{"retry delay not a duration", `{"type":"echo","max_attempts":3,"retry":{"initial_delay":"soon"}}`, 422, "invalid", `"retry.initial_delay": "soon" is not a duration`},
		{"retry delay negative", `{"type":"echo","max_attempts":3,"retry":{"initial_delay":"-1s"}}`, 422, "invalid", `"retry.initial_delay": -1s is negative`},
		{"retry factor below 1", `{"type":"echo","max_attempts":3,"retry":{"initial_delay":"1s","backoff_factor":0.5}}`, 422, "invalid", `"retry.backoff_factor": 0.5 is below 1`},
		{"retry jitter over 1", `{"type":"echo","max_attempts":3,"retry":{"initial_delay":"1s","jitter":1.5}}`, 422, "invalid", `"retry.jitter": 1.5 is not between 0 and 1`},
		{"retry cap below delay", `{"type":"echo","max_attempts":3,"retry":{"initial_delay":"1m","max_delay":"1s"}}`, 422, "invalid", `"retry.max_delay": 1s is shorter than initial_delay 1m0s`},
		{"retry unknown field", `{"type":"echo","retry":{"initial":"1s"}}`, 400, "invalid", `unknown field "initial"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := e.do(t, "POST", "/api/v1/tasks", tt.body).wantError(t, tt.status, tt.code)
			if !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q does not mention %q", msg, tt.msg)
			}
		})
	}
}

func TestRetryAndCancelRejectMalformedBodies(t *testing.T) {
	t.Parallel()
	e := setupStub(t, server.Config{})
	e.do(t, "POST", "/api/v1/tasks/x/retry", `{"inputs":{}}`).wantError(t, 400, "invalid")
	e.do(t, "POST", "/api/v1/tasks/x/retry", `{"input":[]}`).wantError(t, 400, "invalid")
	e.do(t, "POST", "/api/v1/tasks/x/cancel", `{"why":"x"}`).wantError(t, 400, "invalid")
	e.do(t, "POST", "/api/v1/tasks/x/cancel", `{} {}`).wantError(t, 400, "invalid")
}

func TestInternalErrorIsLoggedNotLeaked(t *testing.T) {
	t.Parallel()
	e := setupStub(t, server.Config{})
	r := e.do(t, "GET", "/api/v1/tasks/boom", "")
	msg := r.wantError(t, 500, "internal")
	if strings.Contains(msg, "secret") {
		t.Errorf("internal detail leaked: %q", msg)
	}
	id := r.header.Get(server.RequestIDHeader)
	if id == "" || !strings.Contains(msg, id) {
		t.Errorf("message %q does not quote the request id %q", msg, id)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "/secret/path") || !strings.Contains(logs, id) {
		t.Errorf("detail and request id not logged:\n%s", logs)
	}
}

func TestRoutingErrors(t *testing.T) {
	t.Parallel()
	e := setupStub(t, server.Config{})
	r := e.do(t, "DELETE", "/api/v1/tasks", "")
	r.wantError(t, 405, "method_not_allowed")
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Errorf("Allow %q, want GET and POST", allow)
	}
	e.do(t, "GET", "/api/v1/tasks/x/cancel", "").wantError(t, 405, "method_not_allowed")
	e.do(t, "PUT", "/api/v1/healthz", "").wantError(t, 405, "method_not_allowed")
	e.do(t, "GET", "/api/v1/nope", "").wantError(t, 404, "not_found")
	e.do(t, "GET", "/", "").wantError(t, 404, "not_found")
	e.do(t, "GET", "/api/v1/tasks/nope", "").wantError(t, 404, "not_found")
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	e := setupStub(t, server.Config{})
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/healthz", nil)
	req.Header.Set(server.RequestIDHeader, "abc-123")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get(server.RequestIDHeader); got != "abc-123" {
		t.Errorf("request id %q, want the client's abc-123", got)
	}
	r := e.do(t, "GET", "/api/v1/healthz", "")
	if got := r.header.Get(server.RequestIDHeader); len(got) != 16 {
		t.Errorf("made-up request id %q, want 16 hex digits", got)
	}
	if !strings.Contains(e.logs.String(), "request_id=abc-123") {
		t.Errorf("access log lacks the request id:\n%s", e.logs.String())
	}
}

func TestHealthzAndOpenAPIServed(t *testing.T) {
	t.Parallel()
	e := setupStub(t, server.Config{})
	var h struct{ Status string }
	r := e.do(t, "GET", "/api/v1/healthz", "")
	r.decode(t, &h)
	if r.status != 200 || h.Status != "ok" {
		t.Errorf("healthz: %d %s", r.status, r.body)
	}
	r = e.do(t, "GET", "/api/v1/openapi.json", "")
	if r.status != 200 || string(r.body) != string(server.OpenAPI()) {
		t.Errorf("openapi.json: status %d, %d bytes", r.status, len(r.body))
	}
}

func TestUIMount(t *testing.T) {
	t.Parallel()
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ui:"+r.URL.Path)
	})
	e := setupStub(t, server.Config{UI: ui})
	if r := e.do(t, "GET", "/tasks/x", ""); r.status != 200 || string(r.body) != "ui:/tasks/x" {
		t.Errorf("UI: %d %s", r.status, r.body)
	}
	e.do(t, "GET", "/api/v1/nope", "").wantError(t, 404, "not_found")
}

func TestSubmitAndGet(t *testing.T) {
	t.Parallel()
	e := setup(t, false, server.Config{})
	r := e.do(t, "POST", "/api/v1/tasks", `{"type":"echo","queue":"default","info":"hi","attributes":{"a":1},
		"input":{"x":"y"},"priority":3,"max_attempts":2,"timeout":"30m"}`)
	created := r.task(t, http.StatusCreated)
	if loc := r.header.Get("Location"); loc != "/api/v1/tasks/"+created.ID {
		t.Errorf("Location %q", loc)
	}
	if created.ID == "" || created.Type != "echo" || created.Status != loom.StatusPending ||
		created.Info != "hi" || created.Priority != 3 || created.MaxAttempts != 2 || created.Input["x"] != "y" {
		t.Errorf("created task %+v", created)
	}
	if d := created.Timeout.Sub(created.Created); d < 29*time.Minute || d > 31*time.Minute {
		t.Errorf("timeout %s after creation, want 30m", d)
	}
	got := e.do(t, "GET", "/api/v1/tasks/"+created.ID, "").task(t, http.StatusOK)
	if got.ID != created.ID || got.Type != "echo" {
		t.Errorf("got %+v, want %+v", got, created)
	}

	expiry := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	withExpiry := e.do(t, "POST", "/api/v1/tasks", `{"type":"echo","timeout":"`+expiry+`"}`).task(t, http.StatusCreated)
	if d := withExpiry.Timeout.Sub(withExpiry.Created); d < 119*time.Minute || d > 121*time.Minute {
		t.Errorf("timeout %s after creation, want 2h", d)
	}
}

func TestSubmitUnknownType(t *testing.T) {
	t.Parallel()
	e := setup(t, false, server.Config{})
	e.do(t, "POST", "/api/v1/tasks", `{"type":"nope"}`).wantError(t, 422, "invalid")
}

func TestSubmitIdempotent(t *testing.T) {
	t.Parallel()
	e := setup(t, false, server.Config{})
	first := e.do(t, "POST", "/api/v1/tasks", `{"type":"echo","idempotency_key":"k1"}`).task(t, http.StatusCreated)
	again := e.do(t, "POST", "/api/v1/tasks", `{"type":"echo","idempotency_key":"k1","input":{"other":1}}`).task(t, http.StatusOK)
	if again.ID != first.ID {
		t.Errorf("resubmit answered %s, want the existing %s", again.ID, first.ID)
	}
	var list struct{ Tasks []loom.TaskInfo }
	e.do(t, "GET", "/api/v1/tasks", "").decode(t, &list)
	if len(list.Tasks) != 1 {
		t.Errorf("%d tasks after an idempotent resubmit, want 1", len(list.Tasks))
	}
}

func TestListPagingAndFilters(t *testing.T) {
	t.Parallel()
	e := setup(t, false, server.Config{})
	var want []string
	for i := range 7 {
		typ, queue := "echo", "default"
		if i%2 == 1 {
			typ, queue = "fail", "other"
		}
		task := e.do(t, "POST", "/api/v1/tasks", fmt.Sprintf(`{"type":%q,"queue":%q,"info":"n%d"}`, typ, queue, i)).task(t, http.StatusCreated)
		want = append(want, task.ID)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 4 {
			t.Fatal("paging does not end")
		}
		var page struct {
			Tasks []loom.TaskInfo `json:"tasks"`
			Next  string          `json:"next"`
		}
		r := e.do(t, "GET", "/api/v1/tasks?limit=3&cursor="+cursor, "")
		if r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		r.decode(t, &page)
		if len(page.Tasks) > 3 {
			t.Fatalf("page of %d tasks, limit 3", len(page.Tasks))
		}
		for _, task := range page.Tasks {
			got = append(got, task.ID)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	slices.Reverse(want) // newest first
	if !slices.Equal(got, want) {
		t.Errorf("paged ids %v, want %v", got, want)
	}

	count := func(query string) int {
		t.Helper()
		var page struct{ Tasks []loom.TaskInfo }
		r := e.do(t, "GET", "/api/v1/tasks?"+query, "")
		if r.status != 200 {
			t.Fatalf("list ?%s: %d %s", query, r.status, r.body)
		}
		r.decode(t, &page)
		return len(page.Tasks)
	}
	for query, n := range map[string]int{
		"type=fail":                         3,
		"queue=default":                     4,
		"status=pending":                    7,
		"status=completed":                  0,
		"status=completed,pending":          7,
		"status=completed&status=pending":   7,
		"q=n3":                              1,
		"type=echo&queue=other":             0,
		"parent_id=" + want[0]:              0,
		"limit=0":                           7,
		"status=failed&status=cancelled":    0,
		"type=echo&status=pending&limit=10": 4,
	} {
		if got := count(query); got != n {
			t.Errorf("?%s: %d tasks, want %d", query, got, n)
		}
	}
	e.do(t, "GET", "/api/v1/tasks?status=bogus", "").wantError(t, 400, "invalid")
	e.do(t, "GET", "/api/v1/tasks?limit=ten", "").wantError(t, 400, "invalid")
	e.do(t, "GET", "/api/v1/tasks?limit=5000", "").wantError(t, 400, "invalid")
	e.do(t, "GET", "/api/v1/tasks?cursor=garbage!", "").wantError(t, 422, "invalid")
}

func TestCancelAndRetry(t *testing.T) {
	t.Parallel()
	e := setup(t, false, server.Config{})
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	task := e.do(t, "POST", "/api/v1/tasks", `{"type":"echo","run_at":"`+later+`","input":{"n":1}}`).task(t, http.StatusCreated)

	e.do(t, "POST", "/api/v1/tasks/"+task.ID+"/retry", "").wantError(t, 409, "conflict")
	cancelled := e.do(t, "POST", "/api/v1/tasks/"+task.ID+"/cancel", `{"reason":"not needed"}`).task(t, http.StatusOK)
	if cancelled.Status != loom.StatusCancelled {
		t.Errorf("after cancel: status %s", cancelled.Status)
	}
	e.do(t, "POST", "/api/v1/tasks/"+task.ID+"/cancel", "").wantError(t, 409, "conflict")

	retried := e.do(t, "POST", "/api/v1/tasks/"+task.ID+"/retry", `{"input":{"n":2}}`).task(t, http.StatusOK)
	if retried.Status != loom.StatusPending || retried.Input["n"] != float64(2) {
		t.Errorf("after retry: %+v", retried)
	}
	e.do(t, "POST", "/api/v1/tasks/"+task.ID+"/retry", "").wantError(t, 409, "conflict")

	e.do(t, "POST", "/api/v1/tasks/nope/cancel", "").wantError(t, 404, "not_found")
	e.do(t, "POST", "/api/v1/tasks/nope/retry", "").wantError(t, 404, "not_found")
}

func TestRunLogsEventsChildren(t *testing.T) {
	t.Parallel()
	e := setup(t, true, server.Config{})
	task := e.do(t, "POST", "/api/v1/tasks", `{"type":"echo","input":{"a":"b"}}`).task(t, http.StatusCreated)
	done := e.waitStatus(t, task.ID, loom.StatusCompleted)
	if done.Output["a"] != "b" || done.Attempt != 1 || done.Result != loom.ResultComplete {
		t.Errorf("completed task %+v", done)
	}

	var logs struct{ Logs []store.LogChunk }
	r := e.do(t, "GET", "/api/v1/tasks/"+task.ID+"/logs", "")
	r.decode(t, &logs)
	var text strings.Builder
	for _, c := range logs.Logs {
		text.WriteString(c.Data)
	}
	if !strings.Contains(text.String(), "hello from echo") {
		t.Errorf("logs %s", r.body)
	}
	if len(logs.Logs) > 0 {
		last := logs.Logs[len(logs.Logs)-1].Seq
		var rest struct{ Logs []store.LogChunk }
		e.do(t, "GET", fmt.Sprintf("/api/v1/tasks/%s/logs?attempt=1&after=%d", task.ID, last), "").decode(t, &rest)
		if len(rest.Logs) != 0 {
			t.Errorf("logs after the last seq: %+v", rest.Logs)
		}
	}
	e.do(t, "GET", "/api/v1/tasks/"+task.ID+"/logs?attempt=x", "").wantError(t, 400, "invalid")
	e.do(t, "GET", "/api/v1/tasks/nope/logs", "").wantError(t, 404, "not_found")

	var evs struct{ Events []store.Event }
	r = e.do(t, "GET", "/api/v1/tasks/"+task.ID+"/events", "")
	r.decode(t, &evs)
	if len(evs.Events) < 2 {
		t.Errorf("events %s, want at least created and completed", r.body)
	}
	e.do(t, "GET", "/api/v1/tasks/nope/events", "").wantError(t, 404, "not_found")

	var children struct{ Tasks []loom.TaskInfo }
	r = e.do(t, "GET", "/api/v1/tasks/"+task.ID+"/children", "")
	r.decode(t, &children)
	if r.status != 200 || children.Tasks == nil || len(children.Tasks) != 0 {
		t.Errorf("children of a plain task: %d %s", r.status, r.body)
	}
	e.do(t, "GET", "/api/v1/tasks/nope/children", "").wantError(t, 404, "not_found")

	failed := e.do(t, "POST", "/api/v1/tasks", `{"type":"fail"}`).task(t, http.StatusCreated)
	got := e.waitStatus(t, failed.ID, loom.StatusFailed)
	if got.Result != loom.ResultError || !strings.Contains(got.Msg, "failing on purpose") {
		t.Errorf("failed task %+v", got)
	}
	e.do(t, "POST", "/api/v1/tasks/"+failed.ID+"/retry", "").task(t, http.StatusOK)
	e.waitStatus(t, failed.ID, loom.StatusFailed)
}

func TestQueuesAndTypes(t *testing.T) {
	t.Parallel()
	e := setup(t, false, server.Config{})
	e.do(t, "POST", "/api/v1/tasks", `{"type":"echo","queue":"q1"}`).task(t, http.StatusCreated)
	var qs struct {
		Queues []store.QueueInfo `json:"queues"`
	}
	e.do(t, "GET", "/api/v1/queues", "").decode(t, &qs)
	found := false
	for _, q := range qs.Queues {
		if q.Name == "q1" && q.Pending == 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("queues %+v lack q1 with one pending task", qs.Queues)
	}
	var types struct {
		Types []string `json:"types"`
	}
	e.do(t, "GET", "/api/v1/types", "").decode(t, &types)
	// exec and http are built in: every engine knows them.
	if !slices.Equal(types.Types, []string{"echo", "exec", "fail", "http"}) {
		t.Errorf("types %v, want [echo exec fail http]", types.Types)
	}
}

// TestSubmitRetryPolicyAndFlowInputs submits tasks with a retry policy of
// their own, which the task object keeps, and a flow without an input it
// declares, which is refused naming the input.
func TestSubmitRetryPolicyAndFlowInputs(t *testing.T) {
	t.Parallel()
	greet, err := loom.NewFlow("greet", loom.FlowDef{Inputs: []string{"who", "greeting"}, Steps: []loom.Step{
		{Task: loom.NewTask("say", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) { return in, nil }))},
	}})
	if err != nil {
		t.Fatal(err)
	}
	handlers := testHandlers()
	handlers["greet"] = greet.Handler
	e := setupWithStore(t, openStore(t), handlers, false, server.Config{})

	got := e.do(t, "POST", "/api/v1/tasks",
		`{"type":"echo","max_attempts":4,"retry":{"initial_delay":"2s","backoff_factor":2,"max_delay":"5m","jitter":0.2}}`).task(t, 201)
	want := &loom.TaskRetry{InitialDelay: loom.Duration(2 * time.Second), BackoffFactor: 2, MaxDelay: loom.Duration(5 * time.Minute), Jitter: 0.2}
	if got.Retry == nil || *got.Retry != *want {
		t.Fatalf("task retry %+v, want %+v", got.Retry, want)
	}
	var raw struct {
		Retry map[string]any `json:"retry"`
	}
	e.do(t, "GET", "/api/v1/tasks/"+got.ID, "").decode(t, &raw)
	if raw.Retry["initial_delay"] != "2s" || raw.Retry["max_delay"] != "5m0s" {
		t.Errorf("stored retry reads %v, want durations as strings", raw.Retry)
	}
	msg := e.do(t, "POST", "/api/v1/tasks", `{"type":"echo","retry":{"initial_delay":"2s"}}`).wantError(t, 422, "invalid")
	if !strings.Contains(msg, "needs max_attempts of 2 or more") {
		t.Errorf("a retry policy for one attempt: %q", msg)
	}

	msg = e.do(t, "POST", "/api/v1/tasks", `{"type":"greet","input":{"who":"ann"}}`).wantError(t, 422, "invalid")
	if !strings.Contains(msg, `flow "greet": missing input "greeting"`) {
		t.Errorf("a flow without an input: %q", msg)
	}
	e.do(t, "POST", "/api/v1/tasks", `{"type":"greet","input":{"who":"ann","greeting":"hi"}}`).task(t, 201)
}
