package ui_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/ui"
)

// csrfMeta finds the page's CSRF token.
var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// browserClient is an HTTP client that keeps cookies, as a browser does.
func browserClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// pageToken opens a page of the UI with c and returns the CSRF token in
// it; c keeps the cookie the token is bound to.
func (v *env) pageToken(c *http.Client) (string, error) {
	res, err := c.Get(v.srv.URL + "/submit")
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", err
	}
	m := csrfMeta.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("no CSRF token on /submit (%d)", res.StatusCode)
	}
	return string(m[1]), nil
}

// postForm posts data to u as a form of the UI's own pages does: with the
// cookie and token a page gave.
func (v *env) postForm(u string, data url.Values) (*http.Response, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	c := &http.Client{Jar: jar}
	tok, err := v.pageToken(c)
	if err != nil {
		return nil, err
	}
	f := url.Values{ui.CSRFField: {tok}}
	for k, vs := range data {
		f[k] = vs
	}
	return c.PostForm(u, f)
}

func TestCSRFToken(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	tk, _, err := v.engine.Submit(ctx, &engine.SubmitParams{Type: "flaky", Input: loom.Values{"key": "csrf"}})
	if err != nil {
		t.Fatal(err)
	}
	v.waitStatus(t, tk.ID, loom.StatusFailed)
	retry := v.srv.URL + "/tasks/" + tk.ID + "/retry"

	alice, bob := browserClient(t), browserClient(t)
	aliceTok, err := v.pageToken(alice)
	if err != nil {
		t.Fatal(err)
	}
	bobTok, err := v.pageToken(bob)
	if err != nil {
		t.Fatal(err)
	}
	if aliceTok == bobTok {
		t.Fatal("two browsers got the same token")
	}
	// The cookie is HttpOnly and SameSite=Strict.
	res, err := http.Get(v.srv.URL + "/tasks/" + tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "loom_csrf" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" {
		t.Errorf("CSRF cookie %+v, want HttpOnly, SameSite=Strict, Path=/", cookie)
	}

	refused := []struct {
		name   string
		client *http.Client
		form   url.Values
		header map[string]string
	}{
		{"no token, no cookie", http.DefaultClient, url.Values{}, nil},
		{"no token", alice, url.Values{}, nil},
		{"another browser's token", alice, url.Values{ui.CSRFField: {bobTok}}, nil},
		{"a made-up token", alice, url.Values{ui.CSRFField: {strings.Repeat("A", len(aliceTok))}}, nil},
		{"a token without its cookie", http.DefaultClient, url.Values{ui.CSRFField: {aliceTok}}, nil},
		{"another browser's token in the header", alice, url.Values{}, map[string]string{ui.CSRFHeader: bobTok}},
	}
	for _, c := range refused {
		req, _ := http.NewRequest(http.MethodPost, retry, strings.NewReader(c.form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, val := range c.header {
			req.Header.Set(k, val)
		}
		res, err := c.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "reload it") {
			t.Errorf("%s: %d, want 403 asking to reload", c.name, res.StatusCode)
		}
	}
	if got, _ := v.engine.Get(ctx, tk.ID); got.Status != loom.StatusFailed || got.Attempt != 1 {
		t.Fatalf("refused posts retried the task: %s, attempt %d", got.Status, got.Attempt)
	}

	// htmx's way: the token in the header.
	req, _ := http.NewRequest(http.MethodPost, retry, nil)
	req.Header.Set(ui.CSRFHeader, aliceTok)
	req.Header.Set("HX-Request", "true")
	res, err = alice.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent || res.Header.Get("HX-Redirect") != "/tasks/"+tk.ID {
		t.Fatalf("htmx retry with the token: %d, HX-Redirect %q", res.StatusCode, res.Header.Get("HX-Redirect"))
	}
	v.waitStatus(t, tk.ID, loom.StatusCompleted)

	// A form's way: the token in the hidden field of every post form.
	_, body := v.get(t, "/tasks/"+tk.ID)
	if n, m := strings.Count(body, `method="post"`), strings.Count(body, `name="csrf_token"`); n == 0 || n != m {
		t.Errorf("%d post forms, %d CSRF fields", n, m)
	}
	res, err = alice.PostForm(retry, url.Values{ui.CSRFField: {aliceTok}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusConflict {
		t.Errorf("form retry of a completed task with the token: %d, want 409 (past the CSRF check)", res.StatusCode)
	}
}
