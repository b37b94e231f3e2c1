package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
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
	res, err := http.PostForm(v.srv.URL+"/tasks/"+tk.ID+"/retry", url.Values{})
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
	res, err := http.PostForm(v.srv.URL+"/submit", url.Values{"type": {"echo"}, "input": {`{"x": "<i>1</i>"}`}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	id := strings.TrimPrefix(res.Request.URL.Path, "/tasks/")
	if res.StatusCode != http.StatusOK || id == res.Request.URL.Path {
		t.Fatalf("submit: %d at %s", res.StatusCode, res.Request.URL)
	}
	v.waitStatus(t, id, loom.StatusCompleted)

	res, err = http.PostForm(v.srv.URL+"/submit", url.Values{"type": {"echo"}, "input": {`[1,2]`}})
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
