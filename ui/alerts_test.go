package ui_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/ui"
)

// alertPanel is the part of the alerts page about alert id.
func alertPanel(t *testing.T, body string, id int64) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<article [^>]*data-alert="` + itoa(id) + `".*?</article>`).FindString(body)
	if m == "" {
		t.Fatalf("no panel for alert %d", id)
	}
	return m
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestAlertsPage(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	if _, err := v.tm.PutNotifier(ctx, &store.Notifier{Name: "ops", URL: "https://hooks.example.com/services/T0/B0/SECRETTOKEN", Format: store.FormatSlack, Kinds: []string{store.AlertCheckLate, store.AlertTaskFailed}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	open, _, err := v.store.OpenAlert(ctx, &store.OpenAlertParams{Notify: []string{"ops"}, Alert: store.Alert{
		Key: "check_late:backup", Kind: store.AlertCheckLate, Subject: "backup <script>alert(1)</script>",
		Message: "check backup is late: <script>alert(2)</script>", Opened: now.Add(-10 * time.Minute),
	}})
	if err != nil {
		t.Fatal(err)
	}
	// One delivery attempt that the receiver refused.
	due, err := v.store.DueDeliveries(ctx, now.Add(time.Hour), 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due deliveries: %v, %v", due, err)
	}
	d := due[0]
	d.Attempts, d.LastCode, d.LastError, d.NextAt, d.Updated = 1, 503, "notify ops: answered 503 <b>Service Unavailable</b>", now.Add(time.Minute), now
	if err := v.store.UpdateDelivery(ctx, d); err != nil {
		t.Fatal(err)
	}

	// A resolved alert, delivered both ways.
	gone, _, err := v.store.OpenAlert(ctx, &store.OpenAlertParams{Notify: []string{"ops"}, Alert: store.Alert{
		Key: "task_failed:x", Kind: store.AlertTaskFailed, Subject: "flaky", Message: "task flaky failed",
		Data: map[string]any{"task_id": "some-task"}, Opened: now.Add(-time.Hour),
	}})
	if err != nil {
		t.Fatal(err)
	}
	deliverAll := func() {
		t.Helper()
		due, err := v.store.DueDeliveries(ctx, now.Add(2*time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range due {
			if d.AlertID != gone.ID {
				continue
			}
			d.Attempts, d.LastCode, d.Status, d.Updated = 1, 200, store.DeliveryDelivered, now
			if err := v.store.UpdateDelivery(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	deliverAll()
	if _, ok, err := v.store.ResolveAlert(ctx, &store.ResolveAlertParams{Key: "task_failed:x", Message: "retried fine", Now: now.Add(-30 * time.Minute)}); err != nil || !ok {
		t.Fatalf("resolve: %v %v", ok, err)
	}
	deliverAll()

	code, body := v.get(t, "/alerts")
	if code != http.StatusOK {
		t.Fatalf("GET /alerts: %d\n%s", code, body)
	}
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "<b>Service") {
		t.Error("alert text rendered as HTML")
	}
	if strings.Contains(body, "SECRETTOKEN") {
		t.Error("the notifier's URL path is shown")
	}
	mustContain(t, body, `<span class="badge st-failed">1 open</span>`,
		"<code>https://hooks.example.com/…</code>", "check_late, task_failed", `<td class="hide-s">slack</td>`)
	o := alertPanel(t, body, open.ID)
	mustContain(t, o, "backup &lt;script&gt;alert(1)&lt;/script&gt;", "check backup is late: &lt;script&gt;alert(2)&lt;/script&gt;",
		"<details class=\"deliveries\" open>", "<td>ops<br>", `data-event="opened"`, `<span class="attempts">1</span> attempt,`, `<span class="badge st-pending">pending</span>`,
		"<code>HTTP 503</code> notify ops: answered 503 &lt;b&gt;Service Unavailable&lt;/b&gt;", "retry in")
	r := alertPanel(t, body, gone.ID)
	mustContain(t, r, `<span class="badge st-completed">resolved</span>`, "retried fine", `href="/tasks/some-task"`,
		`data-event="resolved"`, `<span class="badge st-completed">delivered</span>`, "<code>HTTP 200</code>", "2 deliveries")

	_, body = v.get(t, "/alerts?show=open")
	if strings.Contains(body, `data-alert="`+itoa(gone.ID)+`"`) {
		t.Error("open only lists a resolved alert")
	}

	_, body = v.get(t, "/")
	if !regexp.MustCompile(`id="card-alerts"><span class="num st-text-failed">1</span>`).MatchString(body) {
		t.Error("the overview does not count 1 open alert")
	}
}

func TestChecksPage(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	if _, err := v.tm.CreateCheck(ctx, &store.Check{Name: "fresh", Period: time.Hour, Grace: 5 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.tm.CreateCheck(ctx, &store.Check{Name: "pinged", Period: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.tm.PingCheck(ctx, "pinged"); err != nil {
		t.Fatal(err)
	}
	// A check created two hours ago that expects a ping every minute.
	if err := v.store.CreateCheck(ctx, &store.Check{Name: "silent", Period: time.Minute, Grace: 30 * time.Second, Created: time.Now().Add(-2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	code, body := v.get(t, "/checks")
	if code != http.StatusOK {
		t.Fatalf("GET /checks: %d\n%s", code, body)
	}
	for name, state := range map[string]string{"fresh": "new", "pinged": "up", "silent": "late"} {
		mustContain(t, body, `data-check="`+name+`" data-state="`+state+`"`)
	}
	mustContain(t, body, `<span class="badge st-failed">1 late</span>`, "<td class=\"hide-s\">1h</td>", "<td class=\"hide-s\">5m</td>")
	row := regexp.MustCompile(`(?s)data-check="fresh".*?</tr>`).FindString(body)
	mustContain(t, row, "never", ">in 59m<")
	row = regexp.MustCompile(`(?s)data-check="silent".*?</tr>`).FindString(body)
	mustContain(t, row, ">1h ago<")

	_, body = v.get(t, "/")
	if !regexp.MustCompile(`id="card-checks"><span class="num st-text-failed">1</span>`).MatchString(body) {
		t.Error("the overview does not count 1 late check")
	}
}

func TestTriggersPage(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	if _, err := v.tm.PutTrigger(ctx, &store.Trigger{Name: "orders", Kind: store.TriggerEvent, Filter: `type == "order.created" && data.note == "<b>"`,
		Mapping: map[string]string{"key": "data.id"}, Secret: "hush-hush", Task: store.TaskTemplate{Type: "flaky", Queue: "orders"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.tm.PutTrigger(ctx, &store.Trigger{Name: "after-flaky", Kind: store.TriggerCompletion, OnType: "flaky", OnResult: "error",
		Task: store.TaskTemplate{Type: "echo"}, Paused: true}); err != nil {
		t.Fatal(err)
	}
	code, body := v.get(t, "/triggers")
	if code != http.StatusOK {
		t.Fatalf("GET /triggers: %d\n%s", code, body)
	}
	if strings.Contains(body, "hush-hush") {
		t.Error("a trigger's secret is shown")
	}
	mustContain(t, body, `<code class="filter">type == &#34;order.created&#34; &amp;&amp; data.note == &#34;&lt;b&gt;&#34;</code>`,
		"<code>key ← data.id</code>", ">webhook</span>", `<a href="/types/flaky">flaky</a> <small class="muted">on orders</small>`,
		`a <a href="/types/flaky">flaky</a> task ending with <code>error</code>`, `<span class="badge st-waiting">paused</span>`,
		`href="/tasks?key=trigger%3aorders%40"`)
}

// TestWithoutTaskmaster serves a UI configured without a taskmaster: its
// navigation leaves the taskmaster pages out and they say why.
func TestWithoutTaskmaster(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	e, err := engine.New(engine.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h := ui.New(ui.Config{Engine: e, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	code, body := get("/")
	if code != http.StatusOK {
		t.Fatalf("GET /: %d", code)
	}
	for _, s := range []string{`href="/schedules"`, `href="/alerts`, `id="card-alerts"`} {
		if strings.Contains(body, s) {
			t.Errorf("the overview links to %s", s)
		}
	}
	for _, p := range []string{"/schedules", "/schedules/x", "/triggers", "/checks", "/alerts"} {
		code, body := get(p)
		if code != http.StatusNotFound || !strings.Contains(body, "this server runs no taskmaster") {
			t.Errorf("GET %s: %d, want 404 saying there is no taskmaster", p, code)
		}
	}
	// A post with a page's CSRF token and cookie.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	m := csrfMeta.FindStringSubmatch(rec.Body.String())
	if m == nil || len(rec.Result().Cookies()) != 1 {
		t.Fatalf("no CSRF token and cookie on /")
	}
	post := httptest.NewRequest(http.MethodPost, "/schedules/x/pause", nil)
	post.AddCookie(rec.Result().Cookies()[0])
	post.Header.Set(ui.CSRFHeader, m[1])
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, post)
	if rec.Code != http.StatusNotFound {
		t.Errorf("POST pause: %d, want 404", rec.Code)
	}
}

// TestAlertDeliveredEndToEnd runs the taskmaster's loops: a check that
// goes silent raises an alert, the notifier posts it to a receiver that
// refuses it, and the alerts page shows the alert and its delivery log;
// a ping resolves it.
func TestAlertDeliveredEndToEnd(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	var posts atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	t.Cleanup(recv.Close)
	if _, err := v.tm.PutNotifier(ctx, &store.Notifier{Name: "pager", URL: recv.URL + "/hook", MaxAttempts: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.tm.CreateCheck(ctx, &store.Check{Name: "cron-job", Period: time.Second}); err != nil {
		t.Fatal(err)
	}
	v.runTaskmaster(t)

	var body string
	eventually(t, "the alerts page shows the failed delivery", func() bool {
		_, body = v.get(t, "/alerts")
		return strings.Contains(body, `<span class="badge st-failed">failed</span>`)
	})
	mustContain(t, body, "check cron-job is late", "<td>pager<br>", "<code>HTTP 503</code>", "answered 503 Service Unavailable")
	if posts.Load() != 1 {
		t.Errorf("the receiver got %d posts, want 1", posts.Load())
	}
	_, body = v.get(t, "/checks")
	mustContain(t, body, `data-check="cron-job" data-state="late"`)

	if _, err := v.tm.PingCheck(ctx, "cron-job"); err != nil {
		t.Fatal(err)
	}
	_, body = v.get(t, "/alerts?show=open")
	mustContain(t, body, "No open alerts.")
}
