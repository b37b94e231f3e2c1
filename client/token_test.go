package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/loomhq/loom/client"
)

// TestTokenSentAndTokenRoutes: a client with a Token sends it as a bearer
// token on every request, and the token methods use the token routes.
func TestTokenSentAndTokenRoutes(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		seen []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/tokens":
			if r.Method == http.MethodPost {
				w.WriteHeader(http.StatusCreated)
				_, _ = w.Write([]byte(`{"name":"ci","role":"viewer","created":"2026-01-01T00:00:00Z","token":"loom_x"}`))
				return
			}
			_, _ = w.Write([]byte(`{"tokens":[{"name":"ci","role":"viewer","created":"2026-01-01T00:00:00Z"}]}`))
		default:
			_, _ = w.Write([]byte(`{"name":"ci","role":"viewer","created":"2026-01-01T00:00:00Z","revoked":"2026-01-02T00:00:00Z"}`))
		}
	}))
	t.Cleanup(srv.Close)
	c := client.New(srv.URL)
	c.HTTPClient = srv.Client()
	c.Token = "loom_secret"
	ctx := context.Background()

	made, err := c.CreateToken(ctx, "ci", "viewer")
	if err != nil || made.Secret != "loom_x" || made.Name != "ci" {
		t.Fatalf("CreateToken = %+v, %v", made, err)
	}
	toks, err := c.Tokens(ctx)
	if err != nil || len(toks) != 1 || toks[0].Role != "viewer" {
		t.Fatalf("Tokens = %+v, %v", toks, err)
	}
	rev, err := c.RevokeToken(ctx, "ci")
	if err != nil || rev.Revoked == nil {
		t.Fatalf("RevokeToken = %+v, %v", rev, err)
	}
	want := []string{
		"POST /api/v1/tokens Bearer loom_secret",
		"GET /api/v1/tokens Bearer loom_secret",
		"POST /api/v1/tokens/ci/revoke Bearer loom_secret",
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != len(want) {
		t.Fatalf("requests %v", seen)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Errorf("request %d: %q, want %q", i, seen[i], want[i])
		}
	}
}
