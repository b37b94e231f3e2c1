package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomhq/loom"
)

// apiRaw sends one request and returns the status and the body, whatever
// the status.
func apiRaw(t *testing.T, method, url string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(data)
}

// wantRefused checks an answer is a 422 whose message names flag.
func wantRefused(t *testing.T, what string, code int, body, flag string) {
	t.Helper()
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, flag) {
		t.Errorf("%s: %d %s, want 422 naming %s", what, code, body, flag)
	}
}

// endedTask waits for a task to end and returns it.
func endedTask(t *testing.T, url, id string) loom.TaskInfo {
	t.Helper()
	waitEnded(t, url, id)
	var task loom.TaskInfo
	api(t, "GET", url+"/api/v1/tasks/"+id, nil, &task)
	return task
}

// TestExecIsOptIn: without --allow-exec a submitted exec task, a trigger
// or schedule that would start one, and a flow's step type submitted on
// its own are refused with 422 naming the way in; the flow file's own exec
// step still runs.
func TestExecIsOptIn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	flows := filepath.Join(dir, "flows")
	if err := os.Mkdir(flows, 0o755); err != nil {
		t.Fatal(err)
	}
	flow := "name: greet\ninputs: [who]\nsteps:\n" +
		"  - name: say\n    exec: [echo, \"hello {{.who}}\"]\n    requires: {who: who}\n    provides: {stdout: out}\n" +
		"  - name: typed\n    type: exec\n    input: {command: [echo, fixed]}\n    depends_on: [say]\n"
	if err := os.WriteFile(filepath.Join(flows, "greet.yaml"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	url, _ := inProcessServer(t, filepath.Join(dir, "loom.db"), "--flows", flows)
	api := url + "/api/v1"

	code, body := apiRaw(t, "POST", api+"/tasks", map[string]any{"type": "exec", "input": map[string]any{"command": []string{"touch", filepath.Join(dir, "proof")}}})
	wantRefused(t, "exec task", code, body, "--allow-exec")
	wantRefused(t, "exec task", code, body, "allow_exec in a flow file")
	code, body = apiRaw(t, "POST", api+"/tasks", map[string]any{"type": "exec", "queue": "elsewhere", "input": map[string]any{"command": []string{"id"}}})
	wantRefused(t, "exec task on another queue", code, body, "--allow-exec")
	code, body = apiRaw(t, "POST", api+"/triggers", map[string]any{"name": "t", "kind": "event", "task": map[string]any{"type": "exec", "input": map[string]any{"command": []string{"id"}}}})
	wantRefused(t, "exec trigger", code, body, "--allow-exec")
	code, body = apiRaw(t, "POST", api+"/schedules", map[string]any{"name": "s", "cron": "@hourly", "task": map[string]any{"type": "exec", "input": map[string]any{"command": []string{"id"}}}})
	wantRefused(t, "exec schedule", code, body, "--allow-exec")
	for _, typ := range []string{"greet/say", "greet/typed"} {
		code, body = apiRaw(t, "POST", api+"/tasks", map[string]any{"type": typ, "input": map[string]any{"command": []string{"touch", filepath.Join(dir, "proof")}, "who": "x"}})
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, `step of flow \"greet\"`) {
			t.Errorf("step type %s submitted alone: %d %s, want 422", typ, code, body)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "proof")); err == nil {
		t.Fatal("a refused command ran")
	}

	var task loom.TaskInfo
	// The flow's own input cannot name the command of its "type: exec" step.
	in := map[string]any{"who": "you; touch proof", "command": []string{"touch", filepath.Join(dir, "proof")}}
	if code := apiCode(t, "POST", api+"/tasks", map[string]any{"type": "greet", "input": in}, &task); code != http.StatusCreated {
		t.Fatalf("submit flow: %d", code)
	}
	if got := endedTask(t, url, task.ID); got.Status != loom.StatusCompleted || !strings.Contains(string(mustJSON(t, got.Output)), "hello you; touch proof") {
		t.Fatalf("flow with exec steps: %s %s %s", got.Status, got.Msg, mustJSON(t, got.Output))
	}
	if _, err := os.Stat(filepath.Join(dir, "proof")); err == nil {
		t.Fatal("the flow's input replaced its step's command")
	}
}

// TestExecAllowlist: with --allow-exec-command only matching commands
// are admitted, without env or dir, and they run.
func TestExecAllowlist(t *testing.T) {
	t.Parallel()
	url, _ := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"), "--allow-exec-command", "echo ...", "--allow-exec-command", "false")
	api := url + "/api/v1"
	for _, in := range []map[string]any{
		{"command": []string{"sh", "-c", "id"}},
		{"command": []string{"false", "extra"}},
		{"command": []string{"echo", "x"}, "env": map[string]string{"LD_PRELOAD": "/tmp/x.so"}},
		{"command": []string{"echo", "x"}, "dir": "/"},
	} {
		code, body := apiRaw(t, "POST", api+"/tasks", map[string]any{"type": "exec", "input": in})
		wantRefused(t, "exec "+string(mustJSON(t, in)), code, body, "--allow-exec-command")
	}
	var task loom.TaskInfo
	if code := apiCode(t, "POST", api+"/tasks", map[string]any{"type": "exec", "input": map[string]any{"command": []string{"echo", "allowed", "words"}}}, &task); code != http.StatusCreated {
		t.Fatalf("allowed exec: %d", code)
	}
	if got := endedTask(t, url, task.ID); got.Status != loom.StatusCompleted || got.Output["stdout"] != "allowed words\n" {
		t.Fatalf("allowed exec: %s %s %v", got.Status, got.Msg, got.Output)
	}
	// A retry's new input is judged like a submit's.
	apiCode(t, "POST", api+"/tasks", map[string]any{"type": "exec", "input": map[string]any{"command": []string{"false"}}}, &task)
	if got := endedTask(t, url, task.ID); got.Status != loom.StatusFailed {
		t.Fatalf("false: %s", got.Status)
	}
	code, body := apiRaw(t, "POST", api+"/tasks/"+task.ID+"/retry", map[string]any{"input": map[string]any{"command": []string{"sh", "-c", "id"}}})
	wantRefused(t, "retry with another command", code, body, "--allow-exec-command")
}

// TestPrivateNetIsOptIn: an http task and a flow's http step to a loopback
// service fail, naming --allow-private-net, and never reach it; with the
// option they do.
func TestPrivateNetIsOptIn(t *testing.T) {
	t.Parallel()
	reached := make(chan struct{}, 10)
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached <- struct{}{}
		_, _ = io.WriteString(w, "inside")
	}))
	t.Cleanup(svc.Close)
	dir := t.TempDir()
	flows := filepath.Join(dir, "flows")
	if err := os.Mkdir(flows, 0o755); err != nil {
		t.Fatal(err)
	}
	flow := "name: probe\ninputs: [url]\nsteps:\n  - name: get\n    http: {url: \"{{.url}}\"}\n    requires: {url: url}\n"
	if err := os.WriteFile(filepath.Join(flows, "probe.yaml"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(url, typ, target string) loom.TaskInfo {
		var task loom.TaskInfo
		apiCode(t, "POST", url+"/api/v1/tasks", map[string]any{"type": typ, "input": map[string]any{"url": target}}, &task)
		return endedTask(t, url, task.ID)
	}
	guarded, _ := inProcessServer(t, filepath.Join(dir, "guarded.db"), "--flows", flows)
	local := strings.Replace(svc.URL, "127.0.0.1", "localhost", 1)
	for _, c := range []struct{ typ, target string }{{"http", svc.URL}, {"http", local}, {"http", "http://169.254.169.254/"}, {"probe", svc.URL}} {
		got := run(guarded, c.typ, c.target)
		if got.Status != loom.StatusFailed || !strings.Contains(got.Msg, "--allow-private-net") || got.Attempt != 1 {
			t.Errorf("%s %s on a guarded server: %s after %d attempt(s): %s", c.typ, c.target, got.Status, got.Attempt, got.Msg)
		}
	}
	select {
	case <-reached:
		t.Fatal("a guarded server reached the loopback service")
	default:
	}
	open, _ := inProcessServer(t, filepath.Join(dir, "open.db"), "--flows", flows, "--allow-private-net")
	for _, typ := range []string{"http", "probe"} {
		if got := run(open, typ, local); got.Status != loom.StatusCompleted {
			t.Errorf("%s with --allow-private-net: %s %s", typ, got.Status, got.Msg)
		}
	}
}

// apiCode is api for answers the test expects to succeed.
func apiCode(t *testing.T, method, url string, body, out any) int {
	t.Helper()
	return api(t, method, url, body, out)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
