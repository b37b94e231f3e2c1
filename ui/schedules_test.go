package ui_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/schedule"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/taskmaster"
)

// createSchedule creates a schedule of the echo task through the
// taskmaster.
func (v *env) createSchedule(t *testing.T, name, cron, tz string) *taskmaster.ScheduleInfo {
	t.Helper()
	info, err := v.tm.CreateSchedule(context.Background(), &store.Schedule{
		Def:  schedule.Schedule{Name: name, Cron: cron, TimeZone: tz},
		Task: store.TaskTemplate{Type: "echo", Input: loom.Values{"from": name}, Info: "<img src=x onerror=alert(1)>"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// scheduledRun creates a run of schedule name as the scheduler would,
// for scheduled time at, and records it as the schedule's last run.
func (v *env) scheduledRun(t *testing.T, name string, at time.Time) *loom.TaskInfo {
	t.Helper()
	ctx := context.Background()
	tk, _, err := v.engine.Submit(ctx, &engine.SubmitParams{
		Type: "echo", Input: loom.Values{"from": name}, IdempotencyKey: taskmaster.ScheduleKeyPrefix + schedule.Key(name, at),
		Attributes: map[string]any{"schedule": name, "scheduled": at.UTC().Format(time.RFC3339Nano)},
	})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := v.store.GetSchedule(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.store.AdvanceSchedule(ctx, &store.AdvanceScheduleParams{Name: name, Cursor: sc.Cursor, LastFire: at, LastTaskID: tk.ID}); err != nil {
		t.Fatal(err)
	}
	return tk
}

// post submits a form from the UI's own origin, with its CSRF token, and
// returns the page it leads to.
func (v *env) post(t *testing.T, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	res, err := v.postForm(v.srv.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

// schedulePanel is the part of the schedules page about schedule name.
func schedulePanel(t *testing.T, body, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<section class="panel schedule[^"]*" data-row data-schedule="` + regexp.QuoteMeta(name) + `".*?</section>`).FindString(body)
	if m == "" {
		t.Fatalf("no panel for schedule %s", name)
	}
	return m
}

// fireTimes are the texts of the next-fire-time list items in html.
func fireTimes(html string) []string {
	list := regexp.MustCompile(`(?s)<ol class="fires">(.*?)</ol>`).FindStringSubmatch(html)
	if list == nil {
		return nil
	}
	var out []string
	for _, m := range regexp.MustCompile(`<time datetime="[^"]+">([^<]+)</time>`).FindAllStringSubmatch(list[1], -1) {
		out = append(out, m[1])
	}
	return out
}

func TestSchedulesPage(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	v.createSchedule(t, "nightly", "30 2 * * *", "Europe/Paris")
	run := v.scheduledRun(t, "nightly", time.Now().Add(-time.Hour).Truncate(time.Minute))
	v.waitStatus(t, run.ID, loom.StatusCompleted)

	// A schedule whose cursor is two hours behind, as if no scheduler had
	// run since: it is late.
	late := v.createSchedule(t, "every-minute", "@every 1m", "")
	late.Cursor = time.Now().Add(-2 * time.Hour)
	if _, err := v.store.UpdateSchedule(ctx, &store.UpdateScheduleParams{Schedule: late.Schedule, ResetCursor: late.Cursor, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}

	code, body := v.get(t, "/schedules")
	if code != http.StatusOK {
		t.Fatalf("GET /schedules: %d\n%s", code, body)
	}
	nightly := schedulePanel(t, body, "nightly")
	mustContain(t, nightly, "<code>30 2 * * *</code>", "Europe/Paris", "<dd>skip</dd>", "<dd>run_once</dd>",
		`<a href="/tasks/`+run.ID+`" class="badge st-completed"`, `action="/schedules/nightly/pause"`, `action="/schedules/nightly/trigger"`)
	times := fireTimes(nightly)
	if len(times) != taskmaster.UpcomingCount {
		t.Fatalf("nightly lists %d fire times, want %d: %q", len(times), taskmaster.UpcomingCount, times)
	}
	for _, ft := range times {
		if !regexp.MustCompile(`^\w{3} \d{4}-\d\d-\d\d 02:30:00 (CET|CEST)$`).MatchString(ft) {
			t.Errorf("fire time %q is not 02:30 in Paris", ft)
		}
	}
	if strings.Contains(nightly, `badge st-failed">late`) {
		t.Error("nightly is shown late")
	}
	lateP := schedulePanel(t, body, "every-minute")
	mustContain(t, lateP, `<span class="badge st-failed">late</span>`, "has not been created: is a scheduler running?")
	mustContain(t, body, `<span class="badge st-failed">1 late</span>`)
	if strings.Contains(body, "<img src=x") {
		t.Error("user text rendered as HTML")
	}

	// The detail: the template, next times, the run.
	code, body = v.get(t, "/schedules/nightly")
	if code != http.StatusOK {
		t.Fatalf("GET /schedules/nightly: %d\n%s", code, body)
	}
	mustContain(t, body, "&lt;img src=x onerror=alert(1)&gt;", "&#34;from&#34;: &#34;nightly&#34;", `<a class="rowlink" href="/tasks/`+run.ID+`">echo</a>`,
		`href="/tasks?key=schedule%3anightly%40"`)
	if n := len(fireTimes(body)); n != 5 {
		t.Errorf("detail lists %d fire times, want 5", n)
	}
	// The link lists the schedule's runs by their key.
	_, body = v.get(t, "/tasks?key=schedule%3anightly%40&steps=1")
	mustContain(t, body, `href="/tasks/`+run.ID+`"`, `<code>schedule:nightly@</code>`)
	_, body = v.get(t, "/tasks?key=schedule%3anope%40&steps=1")
	if strings.Contains(body, `href="/tasks/`+run.ID+`"`) {
		t.Error("another schedule's key lists nightly's run")
	}
	if code, _ := v.get(t, "/schedules/nope"); code != http.StatusNotFound {
		t.Errorf("missing schedule: %d, want 404", code)
	}

	// The overview counts the late schedule.
	_, body = v.get(t, "/")
	if !regexp.MustCompile(`(?s)id="card-schedules"><span class="num st-text-failed">1</span>`).MatchString(body) {
		t.Error("the overview does not count 1 late schedule")
	}
}

func TestScheduleActions(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	v.createSchedule(t, "hourly", "0 * * * *", "")

	// Pause from the list, back to the list.
	res, body := v.post(t, "/schedules/hourly/pause", url.Values{"back": {"/schedules"}})
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/schedules" {
		t.Fatalf("pause: %d at %s", res.StatusCode, res.Request.URL)
	}
	if info, err := v.tm.Schedule(ctx, "hourly"); err != nil || !info.Def.Paused {
		t.Fatalf("after pause: %+v, %v", info, err)
	}
	p := schedulePanel(t, body, "hourly")
	mustContain(t, p, `<span class="badge st-waiting">paused</span>`, `action="/schedules/hourly/resume"`, "None while paused.")

	// Resume from the detail, back to the detail.
	res, body = v.post(t, "/schedules/hourly/resume", url.Values{"back": {"/schedules/hourly"}})
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/schedules/hourly" {
		t.Fatalf("resume: %d at %s", res.StatusCode, res.Request.URL)
	}
	mustContain(t, body, `id="schedule-state">active</span>`)
	if n := len(fireTimes(body)); n != 5 {
		t.Errorf("resumed: %d fire times, want 5", n)
	}
	// A "back" that leaves the schedules pages is ignored.
	res, _ = v.post(t, "/schedules/hourly/pause", url.Values{"back": {"//evil.example/"}})
	if res.Request.URL.Host != strings.TrimPrefix(v.srv.URL, "http://") || res.Request.URL.Path != "/schedules" {
		t.Errorf("pause with a foreign back went to %s", res.Request.URL)
	}

	// Run now: a task of the schedule, shown at once.
	res, body = v.post(t, "/schedules/hourly/trigger", nil)
	id := strings.TrimPrefix(res.Request.URL.Path, "/tasks/")
	if res.StatusCode != http.StatusOK || id == res.Request.URL.Path {
		t.Fatalf("trigger: %d at %s", res.StatusCode, res.Request.URL)
	}
	tk := v.waitStatus(t, id, loom.StatusCompleted)
	if !strings.HasPrefix(tk.IdempotencyKey, taskmaster.ScheduleKeyPrefix+"hourly@") || tk.Attributes["manual"] != true {
		t.Errorf("triggered task: key %q, attributes %v", tk.IdempotencyKey, tk.Attributes)
	}
	_, body = v.get(t, "/schedules/hourly")
	mustContain(t, body, `href="/tasks/`+id+`">echo</a>`, "run by hand")

	// Cross-site posts are refused.
	req, _ := http.NewRequest(http.MethodPost, v.srv.URL+"/schedules/hourly/delete", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site delete: %v, %v", res, err)
	}

	// Delete: gone, its task stays.
	res, body = v.post(t, "/schedules/hourly/delete", nil)
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/schedules" {
		t.Fatalf("delete: %d at %s", res.StatusCode, res.Request.URL)
	}
	mustContain(t, body, "No schedules yet")
	if _, err := v.tm.Schedule(ctx, "hourly"); err == nil {
		t.Error("the schedule is still there")
	}
	if _, err := v.engine.Get(ctx, id); err != nil {
		t.Errorf("its task: %v", err)
	}
	res, _ = v.post(t, "/schedules/hourly/trigger", nil)
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("trigger a deleted schedule: %d, want 404", res.StatusCode)
	}
}

// TestScheduleNameEscaped stores a schedule whose name no API would take,
// straight into the store, and checks that every page shows it as text.
func TestScheduleNameEscaped(t *testing.T) {
	t.Parallel()
	v := setup(t)
	const name = `x<script>alert(1)</script>`
	now := time.Now()
	if err := v.store.CreateSchedule(context.Background(), &store.Schedule{
		Def: schedule.Schedule{Name: name, Cron: "@every 1h"}, Task: store.TaskTemplate{Type: "echo"},
		Cursor: now, Created: now, Updated: now,
	}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/schedules", "/schedules/" + url.PathEscape(name)} {
		code, body := v.get(t, p)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", p, code, body)
		}
		if strings.Contains(body, "<script>alert(1)") {
			t.Errorf("GET %s: the name is rendered as HTML", p)
		}
		mustContain(t, body, "x&lt;script&gt;alert(1)&lt;/script&gt;")
	}
}
