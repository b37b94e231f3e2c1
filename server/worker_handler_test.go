package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/server"
	"github.com/loomhq/loom/store"
)

// setupPull returns a server whose engine leaves queue "py" to pull
// workers, and its API handler.
func setupPull(t *testing.T) (*env, *server.Server) {
	t.Helper()
	logs := &syncBuffer{}
	e, err := engine.New(engine.Config{
		Store: openStore(t), Logger: slog.New(slog.NewTextHandler(logs, nil)), Workers: 1,
		PollInterval: 50 * time.Millisecond, ReapInterval: 50 * time.Millisecond,
		PullQueues: []engine.Queue{{Name: "py"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	api := server.New(server.Config{Engine: e, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("engine.Run: %v", err)
		}
		_ = e.Close()
	})
	return &env{engine: e, srv: srv, logs: logs}, api
}

// claimed is the answer of a claim.
type claimed struct {
	Tasks []struct {
		ID         string         `json:"id"`
		Type       string         `json:"type"`
		Attempt    int            `json:"attempt"`
		Lease      string         `json:"lease"`
		Input      loom.Values    `json:"input"`
		Attributes map[string]any `json:"attributes"`
	} `json:"tasks"`
	LeaseMS int64 `json:"lease_ms"`
}

// TestWorkerProtocol drives the HTTP worker protocol: claim with a wait,
// heartbeat, log, complete and fail; a stale lease is 409, a forged or
// misplaced one 400, a queue not served by pull workers 422.
func TestWorkerProtocol(t *testing.T) {
	t.Parallel()
	e, _ := setupPull(t)
	submit := func(body string) string {
		t.Helper()
		res := e.do(t, "POST", "/api/v1/tasks", body)
		if res.status != http.StatusCreated {
			t.Fatalf("submit: %d %s", res.status, res.body)
		}
		var task loom.TaskInfo
		res.decode(t, &task)
		return task.ID
	}
	claim := func(body string) claimed {
		t.Helper()
		res := e.do(t, "POST", "/api/v1/workers/claim", body)
		if res.status != http.StatusOK {
			t.Fatalf("claim: %d %s", res.status, res.body)
		}
		var c claimed
		res.decode(t, &c)
		return c
	}
	if c := claim(`{"worker_id":"w1","queues":["py"],"wait_ms":10}`); len(c.Tasks) != 0 || c.LeaseMS != engine.DefaultLeaseDuration.Milliseconds() {
		t.Fatalf("empty queue: %+v", c)
	}
	id := submit(`{"type":"py-job","queue":"py","input":{"n":1},"attributes":{"team":"data"},"max_attempts":2}`)
	c := claim(`{"worker_id":"w1","hostname":"box","queues":["py"],"max":5,"wait_ms":5000}`)
	if len(c.Tasks) != 1 || c.Tasks[0].ID != id || c.Tasks[0].Attempt != 1 || c.Tasks[0].Attributes["team"] != "data" || c.Tasks[0].Input["n"] != 1.0 {
		t.Fatalf("claimed %+v", c)
	}
	lease := c.Tasks[0].Lease
	call := func(path, body string, want int) response {
		t.Helper()
		res := e.do(t, "POST", "/api/v1/workers/tasks/"+path, body)
		if res.status != want {
			t.Fatalf("%s %s: %d %s, want %d", path, body, res.status, res.body, want)
		}
		return res
	}
	call(id+"/heartbeat", `{"lease":"`+lease+`"}`, http.StatusOK)
	call(id+"/logs", `{"lease":"`+lease+`","data":"step 1\n"}`, http.StatusNoContent)
	call(id+"/logs", `{"lease":"`+lease+`","stream":"stderr","data":"warning\n"}`, http.StatusNoContent)
	if res := call(id+"/logs", `{"lease":"`+lease+`","stream":"stdin","data":"x"}`, http.StatusUnprocessableEntity); !strings.Contains(string(res.body), "stream") {
		t.Errorf("a log on an unknown stream: %s", res.body)
	}
	// A token changed by hand, or for another task, is refused.
	call(id+"/heartbeat", `{"lease":"`+lease[:len(lease)-2]+`AA"}`, http.StatusBadRequest)
	call("other/heartbeat", `{"lease":"`+lease+`"}`, http.StatusBadRequest)
	call(id+"/heartbeat", `{}`, http.StatusBadRequest)
	// A failure within the budget: pending again, retried in 1s at least.
	res := call(id+"/fail", `{"lease":"`+lease+`","error":"flaky","retry_after_ms":1000}`, http.StatusOK)
	if !strings.Contains(string(res.body), `"status":"pending"`) {
		t.Fatalf("fail: %s", res.body)
	}
	// The attempt is over: its lease is stale.
	for _, path := range []string{"heartbeat", "logs", "complete", "fail"} {
		res := call(id+"/"+path, `{"lease":"`+lease+`"}`, http.StatusConflict)
		if !strings.Contains(string(res.body), `"code":"conflict"`) {
			t.Errorf("%s with a stale lease: %s", path, res.body)
		}
	}
	c = claim(`{"worker_id":"w2","queues":["py"],"wait_ms":10000}`)
	if len(c.Tasks) != 1 || c.Tasks[0].Attempt != 2 {
		t.Fatalf("the retry: %+v", c)
	}
	// Progress reports are coalesced; the last before the result stays.
	for i := range 50 {
		call(id+"/progress", fmt.Sprintf(`{"lease":"%s","done":%d,"total":10,"message":"row %d"}`, c.Tasks[0].Lease, i%7, i), http.StatusAccepted)
	}
	call(id+"/progress", `{"lease":"`+c.Tasks[0].Lease+`","done":7,"total":10,"message":"almost"}`, http.StatusAccepted)
	call(id+"/progress", `{"lease":"`+c.Tasks[0].Lease+`","done":-1}`, http.StatusUnprocessableEntity)
	started := "2026-01-02T03:04:05Z"
	call(id+"/complete", `{"lease":"`+c.Tasks[0].Lease+`","output":{"n":2},"msg":"done by w2","started":"`+started+`"}`, http.StatusOK)
	task := e.waitStatus(t, id, loom.StatusCompleted)
	if p := task.Progress; p == nil || p.Done != 7 || p.Total != 10 || p.Message != "almost" {
		t.Fatalf("progress of the completed task: %+v", p)
	}
	if task.Msg != "done by w2" || task.Output["n"] != 2.0 || task.Attempt != 2 || task.Started.Format(time.RFC3339) != started {
		t.Fatalf("completed: %+v", task)
	}
	logs, err := e.engine.Logs(context.Background(), &store.GetLogsParams{TaskID: id})
	// A log call without a stream is stdout, as before streams were named.
	if err != nil || len(logs) != 2 || logs[0].Data != "step 1\n" || logs[0].Stream != loom.LogStdout ||
		logs[1].Data != "warning\n" || logs[1].Stream != loom.LogStderr {
		t.Fatalf("logs: %v %v", logs, err)
	}
	res = e.do(t, "POST", "/api/v1/workers/claim", `{"worker_id":"w1","queues":["default"]}`)
	if res.status != http.StatusUnprocessableEntity || !strings.Contains(string(res.body), "--http-queue") {
		t.Fatalf("claim from a queue the server runs: %d %s", res.status, res.body)
	}
}

// TestStopWaitingAnswersClaims: a claim waiting for work is answered at
// once, with no tasks, when the server stops waiting (as it shuts down).
func TestStopWaitingAnswersClaims(t *testing.T) {
	t.Parallel()
	e, api := setupPull(t)
	answer := make(chan response, 1)
	go func() {
		answer <- e.do(t, "POST", "/api/v1/workers/claim", `{"worker_id":"w1","queues":["py"],"wait_ms":60000}`)
	}()
	// Whether the claim is waiting yet or not, it gets no work.
	api.StopWaiting()
	res := <-answer
	if res.status != http.StatusOK || !strings.Contains(string(res.body), `"tasks":[]`) {
		t.Fatalf("the waiting claim: %d %s", res.status, res.body)
	}
}
