package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// apiOperation is one operation of the served OpenAPI document.
type apiOperation struct {
	method string // upper case
	path   string // under /api/v1, with {parameters}
}

// servedOperations reads every operation from the OpenAPI document the
// server serves, so that a route added to the API is stormed and fuzzed
// without editing the tests.
func servedOperations(tb testing.TB, e *env) []apiOperation {
	tb.Helper()
	res, err := e.srv.Client().Get(e.srv.URL + "/api/v1/openapi.json")
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		tb.Fatalf("decode the OpenAPI document: %v", err)
	}
	var ops []apiOperation
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "post", "put", "patch", "delete":
				ops = append(ops, apiOperation{strings.ToUpper(method), path})
			}
		}
	}
	slices.SortFunc(ops, func(a, b apiOperation) int { return strings.Compare(a.path+" "+a.method, b.path+" "+b.method) })
	if len(ops) < 30 {
		tb.Fatalf("the OpenAPI document lists %d operations; expected the whole API", len(ops))
	}
	return ops
}

// fixtures are objects that exist for path parameters to name.
type fixtures struct {
	taskID, backfillID string
}

// Names of the fixtures made by makeFixtures.
const (
	fixSchedule = "storm-s"
	fixTrigger  = "storm-hook"
	fixCheck    = "storm-c"
	fixNotifier = "storm-n"
)

// makeFixtures creates a task, a schedule, a webhook trigger with a regex
// filter, a check, a notifier and a small backfill.
func makeFixtures(tb testing.TB, e *env) fixtures {
	tb.Helper()
	var f fixtures
	post := func(path, body string, v any) {
		tb.Helper()
		status, _, b := send(tb, e, "POST", path, jsonHeader(), []byte(body))
		if status >= 300 {
			tb.Fatalf("fixture %s: %d %s", path, status, b)
		}
		if v != nil {
			if err := json.Unmarshal(b, v); err != nil {
				tb.Fatalf("fixture %s: %v", path, err)
			}
		}
	}
	var task struct{ ID string }
	post("/api/v1/tasks", `{"type":"echo","input":{"n":1}}`, &task)
	f.taskID = task.ID
	post("/api/v1/schedules", `{"name":"`+fixSchedule+`","cron":"@hourly","task":{"type":"echo"}}`, nil)
	post("/api/v1/triggers", `{"name":"`+fixTrigger+`","kind":"event","secret":"s3cret","filter":"data.s matches \"^(a|b)+$\"","task":{"type":"echo"}}`, nil)
	post("/api/v1/checks", `{"name":"`+fixCheck+`","period":"1h"}`, nil)
	post("/api/v1/notifiers", `{"name":"`+fixNotifier+`","url":"http://127.0.0.1:1/"}`, nil)
	var bf struct{ ID string }
	post("/api/v1/backfills", `{"cron":"@daily","task":{"type":"echo"},"from":"2025-01-01T00:00:00Z","to":"2025-01-04T00:00:00Z"}`, &bf)
	f.backfillID = bf.ID
	return f
}

// fill puts the fixture a path parameter names into path.
func (f fixtures) fill(path string) string {
	name := ""
	switch {
	case strings.HasPrefix(path, "/tasks/"):
		name = f.taskID
	case strings.HasPrefix(path, "/backfills/"):
		name = f.backfillID
	case strings.HasPrefix(path, "/schedules/"):
		name = fixSchedule
	case strings.HasPrefix(path, "/triggers/"), strings.HasPrefix(path, "/hooks/"):
		name = fixTrigger
	case strings.HasPrefix(path, "/checks/"):
		name = fixCheck
	case strings.HasPrefix(path, "/notifiers/"):
		name = fixNotifier
	}
	return fillParam(path, name)
}

// fillParam puts value (already escaped) in place of path's parameter.
func fillParam(path, value string) string {
	i := strings.IndexByte(path, '{')
	if i < 0 {
		return path
	}
	j := strings.IndexByte(path[i:], '}')
	return path[:i] + value + path[i+j+1:]
}

// validBody is a body the operation accepts (or refuses only for the
// state of things, such as a signal to an ended task); "" for none.
func validBody(op apiOperation, n int) string {
	switch op.method + " " + op.path {
	case "POST /tasks":
		return `{"type":"echo","input":{"n":1,"s":"x"},"priority":1,"max_attempts":2,"timeout":"1h"}`
	case "POST /tasks/{id}/cancel":
		return `{"reason":"storm"}`
	case "POST /tasks/{id}/retry":
		return `{"input":{"n":2}}`
	case "POST /tasks/{id}/signal":
		return `{"name":"go","data":{"a":1}}`
	case "POST /schedules":
		return fmt.Sprintf(`{"name":"s-%d","cron":"@hourly","task":{"type":"echo","max_attempts":3},"catch_up":{"mode":"run_all","limit":5},"jitter":"1m"}`, n)
	case "PATCH /schedules/{name}":
		return `{"jitter":"1m","catch_up":{"mode":"run_once"}}`
	case "POST /backfills":
		return `{"cron":"@daily","task":{"type":"echo"},"from":"2024-01-01T00:00:00Z","to":"2024-01-08T00:00:00Z","rate":1000000000}`
	case "POST /events":
		return `{"type":"storm","data":{"s":"abab"},"id":"e1"}`
	case "POST /hooks/{name}":
		return `{"s":"ab"}`
	case "POST /triggers":
		// The filter runs its regex on every event and matches none, so
		// that events do not start a task per trigger.
		return fmt.Sprintf(`{"name":"t-%d","kind":"event","filter":"data.s matches \"^(a|b)+$\" && type == \"none\"","mapping":{"s":"data.s"},"task":{"type":"echo"}}`, n)
	case "POST /checks":
		return fmt.Sprintf(`{"name":"c-%d","period":"1h","grace":"1m"}`, n)
	case "PATCH /checks/{name}":
		return `{"period":"2h"}`
	case "POST /notifiers":
		return fmt.Sprintf(`{"name":"n-%d","url":"http://127.0.0.1:1/","kinds":["task_failed"],"max_attempts":2}`, n)
	}
	return ""
}

func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json"}}
}

// send makes one request and returns the answer; a transport error fails
// the test.
func send(tb testing.TB, e *env, method, path string, header http.Header, body []byte) (int, http.Header, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		tb.Fatalf("%s %.200s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatalf("%s %.200s: read the answer: %v", method, path, err)
	}
	return res.StatusCode, res.Header, b
}

// checkAnswer says what is wrong with an answer to bad input: anything
// but a 2xx or a 4xx, or a 4xx without the API's JSON error.
func checkAnswer(method string, status int, header http.Header, body []byte) error {
	switch {
	case status >= 200 && status < 300:
		return nil
	case status < 400 || status >= 500:
		return fmt.Errorf("status %d: %.300s", status, body)
	case method == http.MethodHead:
		return nil // no body to check
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("status %d with Content-Type %q: %.300s", status, ct, body)
	}
	var eb struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
		return fmt.Errorf("status %d without an error code: %.300s", status, body)
	}
	return nil
}
