package ui_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/client"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/runtime"
	"github.com/loomhq/loom/server"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/ui"
)

// requestLog records the requests a handler answered, to prove that the
// page's requests arrived and what they were answered.
type requestLog struct {
	mu   sync.Mutex
	seen []string
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
	w.ResponseWriter.WriteHeader(s)
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		l.mu.Lock()
		l.seen = append(l.seen, fmt.Sprintf("%s %s %d", r.Method, r.URL.Path, sw.status))
		l.mu.Unlock()
	})
}

func (l *requestLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seen...)
}

// evilPage is a page of another origin that tries, as any site the
// operator visits could, to make the browser run a command through loom:
// by the API without a preflight (text/plain, a form body, no body), by
// the API with a JSON body (which needs a preflight), and by the UI's
// forms, with fetch and with a real form post.
const evilPage = `<!doctype html><html><body>
<iframe name="sink" style="display:none"></iframe>
<form id="f" method="post" action="LOOM/submit" target="sink">
<input name="type" value="exec"><input name="input" value='{"command":["touch","PROOF"]}'></form>
<script>
var loom = "LOOM", body = JSON.stringify({type: "exec", input: {command: ["touch", "PROOF"]}});
function post(path, opts) {
  opts.method = "POST";
  return fetch(loom + path, opts).then(function () { return "answered"; }, function (e) { return "blocked"; });
}
Promise.all([
  post("/api/v1/tasks", {mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: body}),
  post("/api/v1/tasks", {mode: "no-cors", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: body}),
  post("/api/v1/tasks", {mode: "no-cors", body: new Blob([body])}),
  post("/api/v1/tasks", {headers: {"Content-Type": "application/json"}, body: body}),
  post("/api/v1/tasks/PENDING/cancel", {mode: "no-cors"}),
  post("/api/v1/tasks/PENDING/cancel", {mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: "{}"}),
  post("/api/v1/tasks/FAILED/retry", {mode: "no-cors"}),
  post("/api/v1/tasks/FAILED/retry", {mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: "{}"}),
  post("/tasks/PENDING/cancel", {mode: "no-cors", credentials: "include", body: new URLSearchParams({})}),
  post("/tasks/FAILED/retry", {mode: "no-cors", credentials: "include", body: new URLSearchParams({})}),
  post("/submit", {mode: "no-cors", credentials: "include", body: new URLSearchParams({type: "exec", input: JSON.stringify({command: ["touch", "PROOF"]})})})
]).then(function (r) { window.results = r; document.getElementById("f").submit(); window.done = true; });
</script></body></html>`

// TestBrowserCrossOriginRefused has a page of another origin try to run a
// command through loom from a real browser; nothing it sends does
// anything.
func TestBrowserCrossOriginRefused(t *testing.T) {
	v := setup(t)
	b := browser(t)
	ctx := context.Background()
	// The worst a page could do: run a command through the exec type.
	if !slices.Contains(v.engine.Types(), "exec") {
		if err := v.engine.Register(loom.NewTask("exec", runtime.Builtins()["exec"])); err != nil {
			t.Fatal(err)
		}
	}
	var log requestLog
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	loomSrv := httptest.NewServer(log.wrap(server.New(server.Config{
		Engine: v.engine, Taskmaster: v.tm, Logger: logger,
		UI: ui.New(ui.Config{Engine: v.engine, Taskmaster: v.tm, Logger: logger}),
	})))
	t.Cleanup(loomSrv.Close)

	pending, _, err := v.engine.Submit(ctx, &engine.SubmitParams{Type: "echo", RunAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	failedTask, _, err := v.engine.Submit(ctx, &engine.SubmitParams{Type: "flaky", Input: loom.Values{"key": "evil"}})
	if err != nil {
		t.Fatal(err)
	}
	v.waitStatus(t, failedTask.ID, loom.StatusFailed)
	before := taskCount(t, v)

	dir := t.TempDir()
	proof := filepath.Join(dir, "proof.txt")
	page := strings.NewReplacer("LOOM", loomSrv.URL, "PROOF", proof, "PENDING", pending.ID, "FAILED", failedTask.ID).Replace(evilPage)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, page)
	}))
	t.Cleanup(evil.Close)
	// localhost against 127.0.0.1: another site, not just another port.
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)

	// The operator has the UI open (so the browser has its CSRF cookie),
	// then visits the other site.
	do(t, b.desk, "open loom's UI", chromedp.Navigate(loomSrv.URL+"/tasks"), chromedp.WaitVisible(chromedp.CSS("#task-table")))
	do(t, b.desk, "visit the other site", chromedp.Navigate(evilURL))
	waitFor(t, b.desk, "the page's requests to be answered", `window.done === true`)
	const sent = 12 // the fetches but the preflighted one, its preflight, the form post
	eventually(t, "the page's requests to reach loom", func() bool {
		n := 0
		for _, s := range log.list() {
			if strings.HasPrefix(s, "POST ") || strings.HasPrefix(s, "OPTIONS ") {
				n++
			}
		}
		return n >= sent
	})
	for _, s := range log.list() {
		if !strings.HasPrefix(s, "POST ") && !strings.HasPrefix(s, "OPTIONS ") {
			continue
		}
		if code, _ := strconv.Atoi(s[strings.LastIndexByte(s, ' ')+1:]); code != http.StatusForbidden {
			t.Errorf("%s: want 403", s)
		}
	}
	// The form post's answer, in the page's frame, is not shown either:
	// loom's pages may not be framed. That refusal is the one violation
	// the browser reports here.
	eventually(t, "the framing refusal", func() bool { return b.console.has("frame-ancestors") })
	if n := b.console.cspSince(0); n != 1 {
		t.Errorf("%d CSP violations, want the framing refusal only", n)
	}
	results, err := chromedp.Run(b.desk, chromedp.Evaluate[[]string](`window.results`))
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 11 || results[3] != "blocked" {
		t.Errorf("the page's fetches: %v; the JSON one must be blocked by its refused preflight", results)
	}

	if n := taskCount(t, v); n != before {
		t.Errorf("%d tasks after the page's requests, want %d: the page created some", n, before)
	}
	if _, err := os.Stat(proof); !os.IsNotExist(err) {
		t.Errorf("the page ran its command: %s exists (%v)", proof, err)
	}
	if tk, _ := v.engine.Get(ctx, pending.ID); tk.Status != loom.StatusPending {
		t.Errorf("the pending task is %s: the page cancelled it", tk.Status)
	}
	if tk, _ := v.engine.Get(ctx, failedTask.ID); tk.Status != loom.StatusFailed || tk.Attempt != 1 {
		t.Errorf("the failed task is %s at attempt %d: the page retried it", tk.Status, tk.Attempt)
	}

	// The same command, asked for the way a client does, runs: the
	// refusals above are not an exec that cannot run here.
	c := client.New(loomSrv.URL)
	tk, _, err := c.Submit(ctx, &client.SubmitRequest{Type: "exec", Input: loom.Values{"command": []any{"touch", proof}}})
	if err != nil {
		t.Fatal(err)
	}
	if tk, err = c.Wait(ctx, tk.ID, 20*time.Millisecond, nil); err != nil || tk.Status != loom.StatusCompleted {
		t.Fatalf("exec through the client: %v, %v", tk, err)
	}
	if _, err := os.Stat(proof); err != nil {
		t.Errorf("exec through the client did not run: %v", err)
	}
}

// taskCount counts every task the engine has.
func taskCount(t *testing.T, v *env) int {
	t.Helper()
	page, err := v.engine.List(context.Background(), &store.ListTasksParams{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(page.Tasks)
}
