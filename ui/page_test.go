package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/taskmaster"
)

func TestPagesRender(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	tk, _, err := v.engine.Submit(ctx, &engine.SubmitParams{Type: "flaky", Input: loom.Values{"key": "a"}, Info: "<img src=x onerror=alert(1)>"})
	if err != nil {
		t.Fatal(err)
	}
	v.waitStatus(t, tk.ID, loom.StatusFailed)

	for _, p := range []string{"/", "/tasks", "/tasks?status=failed", "/tasks/" + tk.ID, "/queues", "/workers", "/types", "/types/flaky", "/submit", "/submit?type=flaky"} {
		code, body := v.get(t, p)
		if code != http.StatusOK {
			t.Errorf("GET %s: %d\n%s", p, code, body)
			continue
		}
		if strings.Contains(body, "<img src=x") || strings.Contains(body, "<script>alert(1)") || strings.Contains(body, "<b>not ready</b>") {
			t.Errorf("GET %s: user text rendered as HTML", p)
		}
	}
	_, body := v.get(t, "/tasks/"+tk.ID)
	mustContain(t, body, "first call fails: &lt;b&gt;not ready&lt;/b&gt;", "call 1 for key a &lt;script&gt;", "id=\"btn-retry\"", "&lt;img src=x")

	code, _ := v.get(t, "/tasks/nope")
	if code != http.StatusNotFound {
		t.Errorf("missing task: %d, want 404", code)
	}
	code, _ = v.get(t, "/nope")
	if code != http.StatusNotFound {
		t.Errorf("missing page: %d, want 404", code)
	}
}

func TestRetryFromForm(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	tk, _, err := v.engine.Submit(ctx, &engine.SubmitParams{Type: "flaky", Input: loom.Values{"key": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	v.waitStatus(t, tk.ID, loom.StatusFailed)
	res, err := v.postForm(v.srv.URL+"/tasks/"+tk.ID+"/retry", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/tasks/"+tk.ID {
		t.Fatalf("retry: %d at %s", res.StatusCode, res.Request.URL)
	}
	v.waitStatus(t, tk.ID, loom.StatusCompleted)
	_, body := v.get(t, "/tasks/"+tk.ID)
	mustContain(t, body, "badge st-completed", "Log 2", "done")
}

func TestSubmitForm(t *testing.T) {
	t.Parallel()
	v := setup(t)
	res, err := v.postForm(v.srv.URL+"/submit", url.Values{"type": {"echo"}, "input": {`{"x": "<i>1</i>"}`}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	id := strings.TrimPrefix(res.Request.URL.Path, "/tasks/")
	if res.StatusCode != http.StatusOK || id == res.Request.URL.Path {
		t.Fatalf("submit: %d at %s", res.StatusCode, res.Request.URL)
	}
	v.waitStatus(t, id, loom.StatusCompleted)

	res, err = v.postForm(v.srv.URL+"/submit", url.Values{"type": {"echo"}, "input": {`[1,2]`}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("bad input: %d, want 422", res.StatusCode)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	t.Parallel()
	v := setup(t)
	req, _ := http.NewRequest(http.MethodPost, v.srv.URL+"/submit", strings.NewReader("type=echo"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site post: %d, want 403", res.StatusCode)
	}
}

// attemptRows are the cells of the attempts table of a task detail page.
func attemptRows(t *testing.T, body string) [][]string {
	t.Helper()
	table := regexp.MustCompile(`(?s)<table class="list attempts">.*?</table>`).FindString(body)
	if table == "" {
		t.Fatal("no attempts table")
	}
	var rows [][]string
	for _, tr := range regexp.MustCompile(`(?s)<tbody>.*</tbody>`).FindAllString(table, -1) {
		for _, row := range regexp.MustCompile(`(?s)<tr>(.*?)</tr>`).FindAllStringSubmatch(tr, -1) {
			var cells []string
			for _, td := range regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`).FindAllStringSubmatch(row[1], -1) {
				cells = append(cells, strings.TrimSpace(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(td[1], "")))
			}
			rows = append(rows, cells)
		}
	}
	return rows
}

// TestAttemptsFromStoreEvents checks the attempts a task detail rebuilds
// from the events the SQLite store records: one failed by hand-retry, one
// failed and retried by the task's policy, each with its outcome, error
// and a duration.
func TestAttemptsFromStoreEvents(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()

	byHand, _, err := v.engine.Submit(ctx, &engine.SubmitParams{Type: "flaky", Input: loom.Values{"key": "hand"}})
	if err != nil {
		t.Fatal(err)
	}
	v.waitStatus(t, byHand.ID, loom.StatusFailed)
	if _, err := v.engine.Retry(ctx, byHand.ID, nil); err != nil {
		t.Fatal(err)
	}
	v.waitStatus(t, byHand.ID, loom.StatusCompleted)

	byPolicy, _, err := v.engine.Submit(ctx, &engine.SubmitParams{Type: "flaky-retry", Input: loom.Values{"key": "policy"}})
	if err != nil {
		t.Fatal(err)
	}
	v.waitStatus(t, byPolicy.ID, loom.StatusCompleted)

	for _, c := range []struct {
		id          string
		firstEnd    string // the first attempt's outcome
		eventsOfOne []string
	}{
		{byHand.ID, "failed", []string{"started", "failed"}},
		{byPolicy.ID, "retrying", []string{"started", "retrying"}},
	} {
		evs, err := v.engine.Events(ctx, &store.ListEventsParams{TaskID: c.id})
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, e := range evs {
			if e.Attempt == 1 && e.Type != "created" && e.Type != "task.created" && e.Type != "retried" && e.Type != "task.retried" {
				kinds = append(kinds, strings.TrimPrefix(e.Type, "task."))
			}
		}
		if !slices.Equal(kinds, c.eventsOfOne) {
			t.Errorf("%s: events of attempt 1 are %q, want %q", c.id, kinds, c.eventsOfOne)
		}

		code, body := v.get(t, "/tasks/"+c.id)
		if code != http.StatusOK {
			t.Fatalf("GET task: %d", code)
		}
		rows := attemptRows(t, body)
		if len(rows) != 2 {
			t.Fatalf("%s: %d attempts listed, want 2: %q", c.id, len(rows), rows)
		}
		// # | started | duration | outcome | error | log
		for i, want := range []struct{ n, outcome, msg string }{
			{"1", c.firstEnd, "first call fails: &lt;b&gt;not ready&lt;/b&gt;"},
			{"2", "completed", ""},
		} {
			r := rows[i]
			if r[0] != want.n || r[3] != want.outcome || !strings.HasSuffix(r[4], want.msg) || (want.msg == "") != (r[4] == "") || r[5] != "Log "+want.n {
				t.Errorf("%s: attempt row %d is %q, want #%s %s %q", c.id, i+1, r, want.n, want.outcome, want.msg)
			}
			if !regexp.MustCompile(`^\d+(µs|ms|\.\d\ds)$`).MatchString(r[2]) {
				t.Errorf("%s: attempt %s lasted %q, want a duration", c.id, want.n, r[2])
			}
		}
	}
}

// TestFlowPages renders a flow's definition through its step API and a
// failed run with what the failure blocked.
func TestFlowPages(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	code, body := v.get(t, "/types/pipeline")
	if code != http.StatusOK {
		t.Fatalf("GET type: %d", code)
	}
	mustContain(t, body, "4 steps; inputs: key", `<a href="/types/flaky">flaky</a>`, "<code>calls</code>", "<code>rows</code>")
	// Steps in the order they run: load after transform, audit anywhere
	// after extract.
	if i, j := strings.Index(body, "<td>transform</td>"), strings.Index(body, "<td>load</td>"); i < 0 || j < i {
		t.Errorf("steps not in run order: transform at %d, load at %d", i, j)
	}

	_, body = v.get(t, "/submit?type=pipeline")
	mustContain(t, body, `&#34;key&#34;: null`)

	f, _, err := v.engine.Submit(ctx, &engine.SubmitParams{Type: "pipeline", Input: loom.Values{"key": "pages"}})
	if err != nil {
		t.Fatal(err)
	}
	v.waitStatus(t, f.ID, loom.StatusFailed)
	_, body = v.get(t, "/tasks/"+f.ID)
	mustContain(t, body,
		`data-step="transform" data-status="failed"`,
		`data-step="load" data-status="blocked"`,
		`data-step="extract" data-status="completed"`,
		"<strong>Blocked downstream:</strong> load.",
	)
}

// TestLinksEscapeNamesOnce renders links to a type whose name has a slash
// (as flow-file steps do): the query carries it escaped once, so the link
// finds the type's tasks.
func TestLinksEscapeNamesOnce(t *testing.T) {
	t.Parallel()
	v := setup(t)
	if err := v.engine.Register(loom.NewTask("etl/extract", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
		return nil, nil
	}))); err != nil {
		t.Fatal(err)
	}
	_, body := v.get(t, "/types/etl%2Fextract")
	mustContain(t, body, `href="/submit?type=etl%2fextract"`)
	if strings.Contains(body, "%252") {
		t.Errorf("a name escaped twice:\n%s", body)
	}
}

// TestSignalFromTheTaskPage shows a task waiting for a signal with a form
// that sends it, and the task completes with the data given.
func TestSignalFromTheTaskPage(t *testing.T) {
	t.Parallel()
	v := setup(t)
	if err := v.engine.Register(v.tm.WaitTask()); err != nil {
		t.Fatal(err)
	}
	tk, _, err := v.engine.Submit(context.Background(), &engine.SubmitParams{Type: "wait", Input: loom.Values{"signal": "approve <now>", "timeout": "1h"}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := v.engine.Get(context.Background(), tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := taskmaster.WaitingFor(got); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s never waited: %s %q", tk.ID, got.Status, got.Msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, body := v.get(t, "/tasks/"+tk.ID)
	mustContain(t, body, `id="btn-signal"`, `<input type="hidden" name="name" value="approve &lt;now&gt;">`)

	res, err := v.postForm(v.srv.URL+"/tasks/"+tk.ID+"/signal", url.Values{"name": {"approve <now>"}, "data": {"[1]"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("data not an object: %d, want 400", res.StatusCode)
	}
	res, err = v.postForm(v.srv.URL+"/tasks/"+tk.ID+"/signal", url.Values{"name": {"approve <now>"}, "data": {`{"by": "ops"}`}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("send signal: %d", res.StatusCode)
	}
	got := v.waitStatus(t, tk.ID, loom.StatusCompleted)
	if data, _ := got.Output["data"].(map[string]any); data["by"] != "ops" {
		t.Fatalf("output %v, want the signal's data", got.Output)
	}
	_, body = v.get(t, "/tasks/"+tk.ID)
	if strings.Contains(body, `id="btn-signal"`) {
		t.Error("a completed task still offers the signal")
	}
}
