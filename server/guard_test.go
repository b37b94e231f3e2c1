package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/loomhq/loom/server"
)

// send sends a request with body (none when empty) and exactly the
// headers given (a "Host" entry sets the Host), and returns the answer.
func (e *env) send(t *testing.T, method, path, body string, header map[string]string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// writeOperations are the documented writes, with their path parameters
// filled in.
func writeOperations(t *testing.T) [][2]string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(server.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	var ops [][2]string
	for p, methods := range doc.Paths {
		for m := range methods {
			switch m {
			case "post", "put", "patch", "delete":
				path := strings.NewReplacer("{id}", "x", "{name}", "x").Replace(p)
				ops = append(ops, [2]string{strings.ToUpper(m), server.APIPrefix + path})
			}
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i][1]+ops[i][0] < ops[j][1]+ops[j][0] })
	if len(ops) < 20 {
		t.Fatalf("only %d write operations documented: %v", len(ops), ops)
	}
	return ops
}

func TestWritesRequireJSON(t *testing.T) {
	t.Parallel()
	e := setupStub(t, server.Config{})
	for _, op := range writeOperations(t) {
		method, path := op[0], op[1]
		for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx", "text/json", "application/json;;"} {
			for _, body := range []string{"", `{"type":"echo"}`} {
				h := map[string]string{}
				if ct != "" {
					h["Content-Type"] = ct
				}
				r := e.send(t, method, path, body, h)
				if path == server.APIPrefix+"/hooks/x" {
					// Deliveries come with the sender's Content-Type, and
					// their signature, not their origin, vouches for them.
					if r.status == 415 {
						t.Errorf("%s %s with Content-Type %q: 415 for a webhook delivery", method, path, ct)
					}
					h["Origin"], h["Sec-Fetch-Site"] = "http://sender.example", "cross-site"
					if r := e.send(t, method, path, body, h); r.status == 403 || r.status == 415 {
						t.Errorf("%s %s from another site with Content-Type %q: %d for a webhook delivery", method, path, ct, r.status)
					}
					continue
				}
				msg := r.wantError(t, 415, server.CodeUnsupportedMediaType)
				if !strings.Contains(msg, "application/json") {
					t.Errorf("%s %s: message %q does not say what is wanted", method, path, msg)
				}
			}
		}
	}
}

func TestJSONWithParametersAccepted(t *testing.T) {
	t.Parallel()
	e := setup(t, false, server.Config{})
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"} {
		r := e.send(t, "POST", "/api/v1/tasks", `{"type":"echo"}`, map[string]string{"Content-Type": ct})
		r.task(t, http.StatusCreated)
	}
	// A text/plain body that is valid JSON, as a page can send without a
	// preflight, creates nothing.
	e.send(t, "POST", "/api/v1/tasks", `{"type":"echo"}`, map[string]string{"Content-Type": "text/plain"}).wantError(t, 415, server.CodeUnsupportedMediaType)
	var page struct{ Tasks []json.RawMessage }
	e.do(t, "GET", "/api/v1/tasks", "").decode(t, &page)
	if len(page.Tasks) != 3 {
		t.Errorf("%d tasks, want the 3 sent as JSON", len(page.Tasks))
	}
}

func TestCrossSiteRefused(t *testing.T) {
	t.Parallel()
	e := setup(t, false, server.Config{})
	own := e.srv.URL
	const json = "application/json"
	task := e.send(t, "POST", "/api/v1/tasks", `{"type":"echo"}`, map[string]string{
		"Content-Type": json, "Origin": own, "Sec-Fetch-Site": "same-origin"}).task(t, http.StatusCreated)
	refused := []struct {
		name   string
		method string
		path   string
		header map[string]string
	}{
		{"cross-site submit", "POST", "/api/v1/tasks", map[string]string{"Content-Type": json, "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}},
		{"text/plain submit from a page", "POST", "/api/v1/tasks", map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}},
		{"Origin only", "POST", "/api/v1/tasks", map[string]string{"Content-Type": json, "Origin": "http://evil.example"}},
		{"Sec-Fetch-Site only", "POST", "/api/v1/tasks", map[string]string{"Content-Type": json, "Sec-Fetch-Site": "cross-site"}},
		{"same-site (another port)", "POST", "/api/v1/tasks", map[string]string{"Content-Type": json, "Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"}},
		{"opaque origin", "POST", "/api/v1/tasks", map[string]string{"Content-Type": json, "Origin": "null"}},
		{"own host, other scheme's port", "POST", "/api/v1/tasks", map[string]string{"Content-Type": json, "Origin": strings.Replace(own, "http:", "https:", 1) + "0"}},
		{"cancel", "POST", "/api/v1/tasks/" + task.ID + "/cancel", map[string]string{"Content-Type": json, "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}},
		{"retry", "POST", "/api/v1/tasks/" + task.ID + "/retry", map[string]string{"Content-Type": json, "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}},
		{"cross-origin read", "GET", "/api/v1/tasks", map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}},
		{"preflight", "OPTIONS", "/api/v1/tasks", map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}},
	}
	for _, c := range refused {
		body := ""
		if c.method == "POST" {
			body = `{"type":"echo"}`
		}
		r := e.send(t, c.method, c.path, body, c.header)
		if r.status != 403 {
			t.Errorf("%s: status %d, want 403; body %s", c.name, r.status, r.body)
			continue
		}
		r.wantError(t, 403, server.CodeForbidden)
		if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("%s: Access-Control-Allow-Origin %q for an origin not configured", c.name, got)
		}
	}
	got := e.do(t, "GET", "/api/v1/tasks/"+task.ID, "").task(t, 200)
	if got.Status != task.Status || got.Attempt != task.Attempt {
		t.Errorf("task changed by refused requests: %s attempt %d, was %s attempt %d", got.Status, got.Attempt, task.Status, task.Attempt)
	}
	var page struct{ Tasks []struct{ ID string } }
	e.do(t, "GET", "/api/v1/tasks", "").decode(t, &page)
	if len(page.Tasks) != 1 {
		t.Errorf("%d tasks, want only the same-origin one", len(page.Tasks))
	}

	// A link followed from another site (a navigation, no Origin) still
	// reads; only a script asking for the answer sends an Origin.
	if r := e.send(t, "GET", "/api/v1/tasks/"+task.ID, "", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}); r.status != 200 {
		t.Errorf("navigation from another site: %d %s", r.status, r.body)
	}
	// Programs send neither header; a typed address says "none".
	e.send(t, "POST", "/api/v1/tasks/"+task.ID+"/cancel", "", map[string]string{"Content-Type": json, "Sec-Fetch-Site": "none"}).task(t, 200)
}

func TestCORSOrigin(t *testing.T) {
	t.Parallel()
	const ops = "https://ops.example.com"
	e := setup(t, false, server.Config{CORSOrigins: []string{"HTTPS://Ops.Example.com:443/", "not an origin"}})
	pre := e.send(t, "OPTIONS", "/api/v1/tasks", "", map[string]string{
		"Origin": ops, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type", "Sec-Fetch-Site": "cross-site"})
	if pre.status != http.StatusNoContent {
		t.Fatalf("preflight: %d %s", pre.status, pre.body)
	}
	want := map[string][]string{
		"Access-Control-Allow-Origin":  {ops},
		"Access-Control-Allow-Methods": {"GET", "POST", "PUT", "PATCH", "DELETE"},
		"Access-Control-Allow-Headers": {"Authorization", "Content-Type"},
		"Vary":                         {"Origin"},
	}
	for h, parts := range want {
		for _, p := range parts {
			if !strings.Contains(strings.Join(pre.header.Values(h), ","), p) {
				t.Errorf("preflight %s %q lacks %s", h, pre.header.Values(h), p)
			}
		}
	}
	r := e.send(t, "POST", "/api/v1/tasks", `{"type":"echo"}`, map[string]string{"Content-Type": "application/json", "Origin": ops, "Sec-Fetch-Site": "cross-site"})
	task := r.task(t, http.StatusCreated)
	if got := r.header.Get("Access-Control-Allow-Origin"); got != ops {
		t.Errorf("POST from %s: Access-Control-Allow-Origin %q", ops, got)
	}
	if got := r.header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "Location") {
		t.Errorf("Access-Control-Expose-Headers %q lacks Location", got)
	}
	r = e.send(t, "GET", "/api/v1/tasks/"+task.ID, "", map[string]string{"Origin": ops})
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != ops {
		t.Errorf("GET from %s: %d, Access-Control-Allow-Origin %q", ops, r.status, r.header.Get("Access-Control-Allow-Origin"))
	}
	// Configured is not a license for text/plain.
	e.send(t, "POST", "/api/v1/tasks", `{"type":"echo"}`, map[string]string{"Content-Type": "text/plain", "Origin": ops}).wantError(t, 415, server.CodeUnsupportedMediaType)
	// Nor for anyone else.
	r = e.send(t, "POST", "/api/v1/tasks", `{"type":"echo"}`, map[string]string{"Content-Type": "application/json", "Origin": "https://ops.example.com.evil.example"})
	r.wantError(t, 403, server.CodeForbidden)
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS answer for an origin not configured")
	}
}

func TestHostRefused(t *testing.T) {
	t.Parallel()
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ui") })
	e := setupStub(t, server.Config{UI: ui, AllowedHosts: []string{"localhost:7070", "loom.internal", "[::1]:7070"}})
	own := strings.TrimPrefix(e.srv.URL, "http://")
	for _, host := range []string{"evil.example", "evil.example:7070", "localhost", "localhost:7071", own, "127.0.0.1:7070", "loom.internal.evil.example", ""} {
		r := e.send(t, "GET", "/api/v1/healthz", "", map[string]string{"Host": host})
		if r.status != 403 {
			t.Errorf("Host %q: %d, want 403", host, r.status)
			continue
		}
		msg := r.wantError(t, 403, server.CodeForbidden)
		if !strings.Contains(msg, "--allowed-host") {
			t.Errorf("Host %q: message %q does not say how to allow a name", host, msg)
		}
		// The UI's pages are refused too, as text.
		r = e.send(t, "GET", "/tasks", "", map[string]string{"Host": host})
		if r.status != 403 || string(r.body) == "ui" {
			t.Errorf("UI with Host %q: %d %s", host, r.status, r.body)
		}
	}
	for _, host := range []string{"localhost:7070", "LOCALHOST:7070", "loom.internal", "loom.internal:8443", "loom.internal.", "[::1]:7070"} {
		if r := e.send(t, "GET", "/api/v1/healthz", "", map[string]string{"Host": host}); r.status != 200 {
			t.Errorf("Host %q: %d %s, want 200", host, r.status, r.body)
		}
		if r := e.send(t, "GET", "/tasks", "", map[string]string{"Host": host}); r.status != 200 || string(r.body) != "ui" {
			t.Errorf("UI with Host %q: %d %s", host, r.status, r.body)
		}
	}

	// Without AllowedHosts (a library user's httptest server) every Host
	// is served.
	open := setupStub(t, server.Config{})
	if r := open.send(t, "GET", "/api/v1/healthz", "", map[string]string{"Host": "evil.example"}); r.status != 200 {
		t.Errorf("no AllowedHosts: %d %s", r.status, r.body)
	}
}

func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	t.Parallel()
	e := setupStub(t, server.Config{AllowedHosts: []string{"127.0.0.1"}})
	uiMounted := setupStub(t, server.Config{AllowedHosts: []string{"127.0.0.1"}, UI: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "the UI's own")
		_, _ = io.WriteString(w, "ui")
	})})
	cases := []struct {
		env    *env
		method string
		path   string
		body   string
		header map[string]string
		status int
	}{
		{e, "GET", "/api/v1/healthz", "", nil, 200},
		{e, "GET", "/api/v1/openapi.json", "", nil, 200},
		{e, "GET", "/api/v1/tasks/nope", "", nil, 404},
		{e, "GET", "/api/v1/nope", "", nil, 404},
		{e, "GET", "/", "", nil, 404},
		{e, "DELETE", "/api/v1/tasks", "", nil, 405},
		{e, "POST", "/api/v1/tasks", "{", map[string]string{"Content-Type": "application/json"}, 400},
		{e, "POST", "/api/v1/tasks", "{}", map[string]string{"Content-Type": "text/plain"}, 415},
		{e, "POST", "/api/v1/tasks", "{}", map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, 403},
		{e, "GET", "/api/v1/healthz", "", map[string]string{"Host": "evil.example"}, 403},
		{e, "GET", "/api/v1/tasks/boom", "", nil, 500},
		{uiMounted, "GET", "/api/v1/nope", "", nil, 404},
		{uiMounted, "GET", "/api/v1/healthz", "", nil, 200},
	}
	for _, c := range cases {
		r := c.env.send(t, c.method, c.path, c.body, c.header)
		if r.status != c.status {
			t.Errorf("%s %s: status %d, want %d", c.method, c.path, r.status, c.status)
		}
		for h, v := range map[string]string{
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
		} {
			if got := r.header.Get(h); got != v {
				t.Errorf("%s %s (%d): %s %q, want %q", c.method, c.path, r.status, h, got, v)
			}
		}
	}
	// The UI's pages keep the UI's own policy.
	r := uiMounted.send(t, "GET", "/tasks", "", nil)
	if got := r.header.Values("Content-Security-Policy"); len(got) != 1 || got[0] != "the UI's own" {
		t.Errorf("UI page: Content-Security-Policy %q, want only the UI's own", got)
	}
}
