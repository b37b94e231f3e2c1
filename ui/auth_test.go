package ui_test

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/auth"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/taskmaster"
	"github.com/loomhq/loom/ui"
)

// authUI is the UI with authentication over a store with a token of each
// role, and an engine that does not run: a submitted task stays pending.
type authUI struct {
	srv    *httptest.Server
	engine *engine.Engine
	auth   *auth.Authenticator
	tokens map[auth.Role]string
}

func setupAuthUI(t *testing.T, withTokens bool) *authUI {
	t.Helper()
	st := openStore(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := engine.New(engine.Config{Store: st, Logger: logger, Handlers: map[string]loom.Handler{
		"echo": loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) { return in, nil }),
	}})
	if err != nil {
		t.Fatal(err)
	}
	tm, err := taskmaster.New(taskmaster.Config{Engine: e, Store: st, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	a := auth.New(auth.Config{Tokens: st})
	tokens := map[auth.Role]string{}
	if withTokens {
		for _, r := range auth.Roles {
			secret, _, err := auth.CreateToken(t.Context(), st, "ui-"+string(r), r, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			tokens[r] = secret
		}
	}
	srv := httptest.NewServer(ui.New(ui.Config{Engine: e, Taskmaster: tm, Logger: logger, Auth: a}))
	t.Cleanup(func() {
		srv.Close()
		_ = e.Close()
	})
	return &authUI{srv: srv, engine: e, auth: a, tokens: tokens}
}

// cookieClient is a client with a cookie jar that does not follow redirects.
func cookieClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// loginCSRF matches the CSRF token in the sign-in form.
var loginCSRF = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// send sends a request as a browser on the UI's pages would: a form post
// carries the CSRF token the sign-in page gave c.
func send(t *testing.T, c *http.Client, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil && method == http.MethodPost && !form.Has(ui.CSRFField) {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		_, page := send(t, c, http.MethodGet, pu.Scheme+"://"+pu.Host+"/login", nil)
		m := loginCSRF.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no CSRF token on the sign-in page:\n%s", page)
		}
		form = maps.Clone(form)
		form.Set(ui.CSRFField, m[1])
	}
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.Do(req)
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

// signIn signs c in with secret and returns the answer to the form.
func (v *authUI) signIn(t *testing.T, c *http.Client, secret, next string) *http.Response {
	t.Helper()
	res, _ := send(t, c, http.MethodPost, v.srv.URL+"/login", url.Values{"token": {secret}, "next": {next}})
	return res
}

func TestUISignIn(t *testing.T) {
	t.Parallel()
	v := setupAuthUI(t, true)
	c := cookieClient(t)

	res, _ := send(t, c, http.MethodGet, v.srv.URL+"/tasks?status=failed", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next="+url.QueryEscape("/tasks?status=failed") {
		t.Fatalf("signed out page: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	res, body := send(t, c, http.MethodGet, v.srv.URL+"/login", nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `name="token"`) || strings.Contains(body, "<script>") {
		t.Fatalf("login form: %d\n%s", res.StatusCode, body)
	}
	if res, _ := send(t, c, http.MethodGet, v.srv.URL+"/static/app.css", nil); res.StatusCode != http.StatusOK {
		t.Fatalf("static while signed out: %d", res.StatusCode)
	}
	if res, _ := send(t, c, http.MethodPost, v.srv.URL+"/submit", url.Values{"type": {"echo"}}); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("action while signed out: %d", res.StatusCode)
	}

	if res := v.signIn(t, c, "loom_wrong", "/"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", res.StatusCode)
	}
	if res := v.signIn(t, c, v.tokens[auth.Worker], "/"); res.StatusCode != http.StatusForbidden {
		t.Fatalf("worker token: %d", res.StatusCode)
	}
	res = v.signIn(t, c, v.tokens[auth.Viewer], "//evil.example/x")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("sign in: %d %q (a foreign next must not be followed)", res.StatusCode, res.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == ui.SessionCookie {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Secure || cookie.Path != "/" || cookie.MaxAge != 12*3600 || cookie.Value == "" || strings.Contains(cookie.Value, "loom_") {
		t.Fatalf("session cookie %+v", cookie)
	}
	res, body = send(t, c, http.MethodGet, v.srv.URL+"/", nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Sign out") {
		t.Fatalf("signed in: %d", res.StatusCode)
	}

	// Revoking the token ends the session at its next request.
	if _, err := v.auth.RevokeToken(t.Context(), "ui-viewer"); err != nil {
		t.Fatal(err)
	}
	if res, _ := send(t, c, http.MethodGet, v.srv.URL+"/", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("after revocation: %d", res.StatusCode)
	}

	// Signing out ends the session.
	if res := v.signIn(t, c, v.tokens[auth.Operator], "/tasks"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/tasks" {
		t.Fatalf("sign in as operator: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res, _ := send(t, c, http.MethodGet, v.srv.URL+"/logout", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	if res, _ := send(t, c, http.MethodGet, v.srv.URL+"/tasks", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("after logout: %d", res.StatusCode)
	}
}

// TestUIRoles: a viewer sees no buttons and its posts are refused with
// 403; an operator sees and uses them; only an admin deletes schedules.
func TestUIRoles(t *testing.T) {
	t.Parallel()
	v := setupAuthUI(t, true)
	task, _, err := v.engine.Submit(t.Context(), &engine.SubmitParams{Type: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	page := v.srv.URL + "/tasks/" + task.ID

	viewer := cookieClient(t)
	v.signIn(t, viewer, v.tokens[auth.Viewer], "/")
	res, body := send(t, viewer, http.MethodGet, page, nil)
	if res.StatusCode != http.StatusOK || strings.Contains(body, `id="btn-cancel"`) || strings.Contains(body, `/rerun"`) || strings.Contains(body, `class="nav-submit"`) {
		t.Fatalf("viewer's task page: %d, shows actions:\n%s", res.StatusCode, body)
	}
	for _, path := range []string{"/tasks/" + task.ID + "/cancel", "/submit"} {
		if res, _ := send(t, viewer, http.MethodPost, v.srv.URL+path, url.Values{"type": {"echo"}}); res.StatusCode != http.StatusForbidden {
			t.Errorf("viewer POST %s: %d", path, res.StatusCode)
		}
	}
	if res, _ := send(t, viewer, http.MethodGet, v.srv.URL+"/submit", nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("viewer GET /submit: %d", res.StatusCode)
	}
	if got, _ := v.engine.Get(t.Context(), task.ID); got.Status != loom.StatusPending {
		t.Fatalf("a refused cancel changed the task: %s", got.Status)
	}

	op := cookieClient(t)
	v.signIn(t, op, v.tokens[auth.Operator], "/")
	res, body = send(t, op, http.MethodGet, page, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="btn-cancel"`) || !strings.Contains(body, `class="nav-submit"`) {
		t.Fatalf("operator's task page: %d, no cancel button", res.StatusCode)
	}
	if res, _ := send(t, op, http.MethodPost, page+"/cancel", url.Values{}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("operator cancels: %d", res.StatusCode)
	}
	if got, _ := v.engine.Get(t.Context(), task.ID); got.Status != loom.StatusCancelled {
		t.Fatalf("operator's cancel: %s", got.Status)
	}
	// The event list says who cancelled.
	if _, body := send(t, op, http.MethodGet, page, nil); !strings.Contains(body, "by ui-operator") {
		t.Errorf("the task page does not show who cancelled:\n%s", body)
	}
	if res, _ := send(t, op, http.MethodPost, v.srv.URL+"/schedules/nope/delete", url.Values{}); res.StatusCode != http.StatusForbidden {
		t.Errorf("operator deletes a schedule: %d", res.StatusCode)
	}
	admin := cookieClient(t)
	v.signIn(t, admin, v.tokens[auth.Admin], "/")
	if res, _ := send(t, admin, http.MethodPost, v.srv.URL+"/schedules/nope/delete", url.Values{}); res.StatusCode != http.StatusNotFound {
		t.Errorf("admin deletes a missing schedule: %d", res.StatusCode)
	}
}

// TestUIOpenWithoutTokens: with no token the UI needs no sign-in.
func TestUIOpenWithoutTokens(t *testing.T) {
	t.Parallel()
	v := setupAuthUI(t, false)
	res, body := send(t, cookieClient(t), http.MethodGet, v.srv.URL+"/", nil)
	if res.StatusCode != http.StatusOK || strings.Contains(body, "Sign out") || !strings.Contains(body, `class="nav-submit"`) {
		t.Fatalf("open UI: %d", res.StatusCode)
	}
}
