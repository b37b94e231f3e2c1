package server_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loomhq/loom/auth"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/server"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/taskmaster"
)

// matrix is who may call each operation: the least role it needs. It is
// written out here, not read from the routes, so that a route whose role
// changes by mistake fails the test; an operation missing from it fails
// too.
var matrix = map[string]string{
	"POST /tasks":                    "operator",
	"GET /tasks":                     "viewer",
	"GET /tasks/{id}":                "viewer",
	"POST /tasks/{id}/cancel":        "operator",
	"POST /tasks/{id}/retry":         "operator",
	"POST /tasks:retry":              "operator",
	"POST /tasks:cancel":             "operator",
	"GET /tasks/{id}/logs":           "viewer",
	"GET /tasks/{id}/events":         "viewer",
	"GET /tasks/{id}/children":       "viewer",
	"POST /tasks/{id}/signal":        "operator",
	"GET /queues":                    "viewer",
	"GET /types":                     "viewer",
	"GET /healthz":                   "public",
	"GET /openapi.json":              "public",
	"POST /schedules":                "admin",
	"GET /schedules":                 "viewer",
	"GET /schedules/{name}":          "viewer",
	"PATCH /schedules/{name}":        "admin",
	"DELETE /schedules/{name}":       "admin",
	"POST /schedules/{name}/pause":   "operator",
	"POST /schedules/{name}/resume":  "operator",
	"POST /schedules/{name}/trigger": "operator",
	"POST /backfills":                "admin",
	"GET /backfills":                 "viewer",
	"GET /backfills/{id}":            "viewer",
	"POST /backfills/{id}/cancel":    "admin",
	"POST /events":                   "operator",
	"POST /hooks/{name}":             "public",
	"POST /triggers":                 "admin",
	"GET /triggers":                  "viewer",
	"GET /triggers/{name}":           "viewer",
	"DELETE /triggers/{name}":        "admin",
	"POST /checks":                   "admin",
	"GET /checks":                    "viewer",
	"GET /checks/{name}":             "viewer",
	"PATCH /checks/{name}":           "admin",
	"DELETE /checks/{name}":          "admin",
	"POST /checks/{name}/ping":       "operator",
	"POST /notifiers":                "admin",
	"GET /notifiers":                 "viewer",
	"DELETE /notifiers/{name}":       "admin",
	"GET /alerts":                    "viewer",
	"GET /deliveries":                "viewer",
	"POST /tokens":                   "admin",
	"GET /tokens":                    "admin",
	"POST /tokens/{name}/revoke":     "admin",
	"DELETE /tokens/{name}":          "admin",

	// The HTTP worker protocol.
	"GET /servers":                       "viewer",
	"GET /workers":                       "viewer",
	"POST /workers/claim":                "worker",
	"POST /workers/tasks/{id}/heartbeat": "worker",
	"POST /workers/tasks/{id}/logs":      "worker",
	"POST /workers/tasks/{id}/progress":  "worker",
	"POST /workers/tasks/{id}/complete":  "worker",
	"POST /workers/tasks/{id}/fail":      "worker",
}

// allowed are the token roles each level admits. worker is in none but
// public and its own: it may claim, heartbeat and complete, nothing else.
var allowed = map[string][]string{
	"public":   {"admin", "operator", "viewer", "worker"},
	"viewer":   {"admin", "operator", "viewer"},
	"operator": {"admin", "operator"},
	"admin":    {"admin"},
	"worker":   {"admin", "worker"},
}

// authEnv is a server with taskmasters and authentication on, with one
// token of each role and one revoked.
type authEnv struct {
	*env
	auth    *auth.Authenticator
	tokens  map[string]string // role → secret
	revoked string
}

func setupAuth(t *testing.T) *authEnv {
	t.Helper()
	st := openStore(t)
	ts := st.(store.TokenStore)
	a := auth.New(auth.Config{Tokens: ts})
	tokens := map[string]string{}
	for _, r := range auth.Roles {
		secret, _, err := auth.CreateToken(t.Context(), ts, "t-"+string(r), r, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		tokens[string(r)] = secret
	}
	revoked, _, err := auth.CreateToken(t.Context(), ts, "gone", auth.Admin, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.RevokeToken(t.Context(), &store.RevokeTokenParams{Name: "gone"}); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	eng, err := engine.New(engine.Config{Store: st, Logger: slog.New(slog.NewTextHandler(logs, nil)), Handlers: testHandlers()})
	if err != nil {
		t.Fatal(err)
	}
	tm, err := taskmaster.New(taskmaster.Config{Engine: eng, Store: st.(store.TaskmasterStore)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Config{Engine: eng, Logger: slog.New(slog.NewTextHandler(logs, nil)), Auth: a, Taskmaster: tm}))
	t.Cleanup(func() {
		srv.Close()
		_ = eng.Close()
	})
	e := &env{engine: eng, srv: srv, logs: logs}
	return &authEnv{env: e, auth: a, tokens: tokens, revoked: revoked}
}

// call sends method path with the bearer token (none when empty).
func (e *authEnv) call(t *testing.T, method, path, token, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method != http.MethodGet && method != http.MethodHead {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
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

// TestRouteRoleMatrix calls every operation of the served OpenAPI document
// with no token, a token of each role and a revoked token, and checks the
// answer's class against the matrix: 401 without a valid token, 403 when
// the role is too low, anything else when it may.
func TestRouteRoleMatrix(t *testing.T) {
	t.Parallel()
	e := setupAuth(t)
	res := e.call(t, http.MethodGet, server.APIPrefix+"/openapi.json", "", "")
	if res.status != http.StatusOK {
		t.Fatalf("openapi.json: %d", res.status)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	res.decode(t, &doc)

	ops := map[string]bool{}
	for path, methods := range doc.Paths {
		for m := range methods {
			ops[strings.ToUpper(m)+" "+path] = true
		}
	}
	for op := range server.RouteRoles(server.New(server.Config{Engine: e.engine})) {
		ops[op] = true
	}
	for op := range ops {
		need, ok := matrix[op]
		if !ok {
			t.Errorf("%s has no entry in the route × role matrix", op)
			continue
		}
		method, path, _ := strings.Cut(op, " ")
		url := server.APIPrefix + strings.NewReplacer("{id}", "nope", "{name}", "nope").Replace(path)
		body := ""
		if method == http.MethodPost || method == http.MethodPatch {
			body = "{}"
		}
		check := func(who, token string, want int) {
			t.Helper()
			got := e.call(t, method, url, token, body)
			switch want {
			case http.StatusUnauthorized, http.StatusForbidden:
				if got.status != want {
					t.Errorf("%s as %s: %d %s, want %d", op, who, got.status, got.body, want)
				}
				if want == http.StatusUnauthorized && got.header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s as %s: 401 without WWW-Authenticate", op, who)
				}
			default:
				if got.status == http.StatusUnauthorized || got.status == http.StatusForbidden || got.status >= 500 && got.status != http.StatusServiceUnavailable {
					t.Errorf("%s as %s: %d %s, want it served", op, who, got.status, got.body)
				}
			}
		}
		public := need == "public"
		for _, who := range []string{"nobody", "revoked"} {
			want := http.StatusUnauthorized
			if public {
				want = 0
			}
			check(who, map[string]string{"nobody": "", "revoked": e.revoked}[who], want)
		}
		for _, r := range auth.Roles {
			want := http.StatusForbidden
			if slices.Contains(allowed[need], string(r)) {
				want = 0
			}
			check(string(r), e.tokens[string(r)], want)
		}
	}
	for op := range matrix {
		if !ops[op] {
			t.Errorf("the matrix has %s, which neither the document nor the routes have", op)
		}
	}
}

// TestTokenLifecycle makes, uses, lists and revokes a token through the
// API, starting from a server with no tokens, which runs open.
func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	e := setup(t, false, server.Config{Auth: auth.New(auth.Config{Tokens: st.(store.TokenStore)})})
	a := &authEnv{env: e}

	// No token exists: open, and the first admin token can be made.
	if got := a.call(t, http.MethodGet, "/api/v1/tasks", "", ""); got.status != http.StatusOK {
		t.Fatalf("open server: %d %s", got.status, got.body)
	}
	got := a.call(t, http.MethodPost, "/api/v1/tokens", "", `{"name":"root","role":"admin"}`)
	if got.status != http.StatusCreated {
		t.Fatalf("create: %d %s", got.status, got.body)
	}
	var created struct {
		Name, Role, Token string
		Created           time.Time
	}
	got.decode(t, &created)
	if created.Name != "root" || created.Role != "admin" || !strings.HasPrefix(created.Token, "loom_") || created.Created.IsZero() {
		t.Fatalf("created %+v", created)
	}
	root := created.Token

	// Now authentication is on, at once.
	got = a.call(t, http.MethodGet, "/api/v1/tasks", "", "")
	if got.status != http.StatusUnauthorized || got.header.Get("WWW-Authenticate") != `Bearer realm="loom"` || !strings.Contains(string(got.body), `"code":"unauthorized"`) {
		t.Fatalf("no token: %d %v %s", got.status, got.header, got.body)
	}
	if got = a.call(t, http.MethodGet, "/api/v1/tasks", "loom_madeup", ""); got.status != http.StatusUnauthorized {
		t.Fatalf("made-up token: %d", got.status)
	}
	if got = a.call(t, http.MethodGet, "/api/v1/tasks", root, ""); got.status != http.StatusOK {
		t.Fatalf("admin token: %d %s", got.status, got.body)
	}

	got = a.call(t, http.MethodPost, "/api/v1/tokens", root, `{"name":"ci","role":"viewer"}`)
	if got.status != http.StatusCreated {
		t.Fatalf("create viewer: %d %s", got.status, got.body)
	}
	got.decode(t, &created)
	viewer := created.Token
	got = a.call(t, http.MethodPost, "/api/v1/tasks", viewer, `{"type":"echo"}`)
	if got.status != http.StatusForbidden || !strings.Contains(string(got.body), `"code":"forbidden"`) {
		t.Fatalf("viewer submits: %d %s", got.status, got.body)
	}

	for _, bad := range []struct{ body, why string }{
		{`{"name":"ci","role":"viewer"}`, "taken name"},
		{`{"name":"x","role":"root"}`, "unknown role"},
		{`{"name":"a b","role":"viewer"}`, "bad name"},
		{`{"name":"","role":"viewer"}`, "empty name"},
		{`{"name":"x","role":"viewer","extra":1}`, "unknown field"},
	} {
		got := a.call(t, http.MethodPost, "/api/v1/tokens", root, bad.body)
		if got.status < 400 || got.status >= 500 {
			t.Errorf("%s: %d %s, want 4xx", bad.why, got.status, got.body)
		}
	}

	got = a.call(t, http.MethodGet, "/api/v1/tokens", root, "")
	if got.status != http.StatusOK || strings.Contains(string(got.body), "loom_") || strings.Contains(string(got.body), "hash") {
		t.Fatalf("list shows secrets or failed: %d %s", got.status, got.body)
	}
	var list struct{ Tokens []store.Token }
	got.decode(t, &list)
	if len(list.Tokens) != 2 || list.Tokens[0].Name != "ci" || list.Tokens[1].LastUsed == nil {
		t.Fatalf("list %+v", list)
	}

	// A revocation takes effect at once on this server.
	if got = a.call(t, http.MethodPost, "/api/v1/tokens/ci/revoke", root, ""); got.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", got.status, got.body)
	}
	if got = a.call(t, http.MethodGet, "/api/v1/tasks", viewer, ""); got.status != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", got.status)
	}
	if got = a.call(t, http.MethodDelete, "/api/v1/tokens/nope", root, ""); got.status != http.StatusNotFound {
		t.Fatalf("revoke unknown: %d", got.status)
	}
	if got = a.call(t, http.MethodDelete, "/api/v1/tokens/root", root, ""); got.status != http.StatusOK {
		t.Fatalf("delete root: %d", got.status)
	}
	// No unrevoked token is left: open again.
	if got = a.call(t, http.MethodGet, "/api/v1/tasks", "", ""); got.status != http.StatusOK {
		t.Fatalf("after revoking every token: %d", got.status)
	}
}

// TestAuthRequiredWithoutTokens: Required refuses every non-public route
// even before a token exists.
func TestAuthRequiredWithoutTokens(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	a := &authEnv{env: setup(t, false, server.Config{Auth: auth.New(auth.Config{Tokens: st.(store.TokenStore), Required: true})})}
	if got := a.call(t, http.MethodGet, "/api/v1/tasks", "", ""); got.status != http.StatusUnauthorized {
		t.Fatalf("tasks: %d", got.status)
	}
	if got := a.call(t, http.MethodGet, "/api/v1/healthz", "", ""); got.status != http.StatusOK {
		t.Fatalf("healthz: %d", got.status)
	}
}

// TestRevokeElsewhereTakesEffect: a token revoked in the database by
// another process (the CLI's --db) stops working once the cache's TTL has
// passed.
func TestRevokeElsewhereTakesEffect(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ts := st.(store.TokenStore)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a := &authEnv{env: setup(t, false, server.Config{Auth: auth.New(auth.Config{Tokens: ts, Now: clock})})}
	secret, _, err := auth.CreateToken(t.Context(), ts, "ci", auth.Viewer, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// Another token keeps authentication on once ci is revoked.
	if _, _, err := auth.CreateToken(t.Context(), ts, "root", auth.Admin, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := a.call(t, http.MethodGet, "/api/v1/tasks", secret, ""); got.status != http.StatusOK {
		t.Fatalf("before: %d", got.status)
	}
	if _, err := ts.RevokeToken(t.Context(), &store.RevokeTokenParams{Name: "ci"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(auth.DefaultCacheTTL)
	mu.Unlock()
	if got := a.call(t, http.MethodGet, "/api/v1/tasks", secret, ""); got.status != http.StatusUnauthorized {
		t.Fatalf("after the TTL: %d", got.status)
	}
}

// TestOpenAPISecurityMatchesRoles: the document marks exactly the public
// operations as needing no token (an empty security list).
func TestOpenAPISecurityMatchesRoles(t *testing.T) {
	t.Parallel()
	var doc struct {
		Security []map[string][]string                `json:"security"`
		Paths    map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(server.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Security) != 1 || doc.Security[0]["bearer"] == nil {
		t.Fatalf("document security %v, want bearer", doc.Security)
	}
	for path, ops := range doc.Paths {
		for m, op := range ops {
			sec, has := op["security"]
			open := has && len(sec.([]any)) == 0
			if want := matrix[strings.ToUpper(m)+" "+path] == "public"; open != want {
				t.Errorf("%s %s: documented open %v, public %v", m, path, open, want)
			}
		}
	}
}

// TestActorInEvents: what a token does is recorded in the task's events
// as that token's name, and as "anonymous" on an open server.
func TestActorInEvents(t *testing.T) {
	t.Parallel()
	e := setupAuth(t)
	got := e.call(t, http.MethodPost, "/api/v1/tasks", e.tokens["operator"], `{"type":"echo"}`)
	if got.status != http.StatusCreated {
		t.Fatalf("submit: %d %s", got.status, got.body)
	}
	var task struct{ ID string }
	got.decode(t, &task)
	if got := e.call(t, http.MethodPost, "/api/v1/tasks/"+task.ID+"/signal", e.tokens["operator"], `{"name":"go"}`); got.status != http.StatusOK {
		t.Fatalf("signal: %d %s", got.status, got.body)
	}
	if got := e.call(t, http.MethodPost, "/api/v1/tasks/"+task.ID+"/cancel", e.tokens["admin"], `{}`); got.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", got.status, got.body)
	}
	if got := e.call(t, http.MethodPost, "/api/v1/tasks/"+task.ID+"/retry", e.tokens["operator"], `{}`); got.status != http.StatusOK {
		t.Fatalf("retry: %d %s", got.status, got.body)
	}
	want := []string{"created t-operator", "signalled t-operator", "cancelled t-admin", "retried t-operator"}
	if got := eventActors(t, e.call(t, http.MethodGet, "/api/v1/tasks/"+task.ID+"/events", e.tokens["viewer"], "")); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}

	open := &authEnv{env: setup(t, false, server.Config{})}
	got = open.call(t, http.MethodPost, "/api/v1/tasks", "", `{"type":"echo"}`)
	got.decode(t, &task)
	if got := eventActors(t, open.call(t, http.MethodGet, "/api/v1/tasks/"+task.ID+"/events", "", "")); !slices.Equal(got, []string{"created anonymous"}) {
		t.Errorf("open server's events %v", got)
	}
}

// eventActors returns "type actor" of each event of an events answer.
func eventActors(t *testing.T, res response) []string {
	t.Helper()
	var list struct {
		Events []store.Event `json:"events"`
	}
	res.decode(t, &list)
	var out []string
	for _, ev := range list.Events {
		a, _ := ev.Data["actor"].(string)
		out = append(out, ev.Type+" "+a)
	}
	return out
}
