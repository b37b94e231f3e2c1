package ui

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
)

// TestRouteRolesAreRoutes: every pattern routeRoles names is one the mux
// serves, so that an entry cannot drift from the route it guards (a
// route without an entry needs admin).
func TestRouteRolesAreRoutes(t *testing.T) {
	e, err := engine.New(engine.Config{Store: struct{ store.Store }{}})
	if err != nil {
		t.Fatal(err)
	}
	u := New(Config{Engine: e})
	for pattern := range routeRoles {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			method, path = "GET", "/nope/nope"
		}
		path = strings.NewReplacer("{id}", "x", "{name}", "x", "{$}", "").Replace(path)
		if strings.HasSuffix(path, "/static/") {
			path += "app.css"
		}
		_, got := u.mux.Handler(httptest.NewRequest(method, path, nil))
		if got != pattern {
			t.Errorf("routeRoles has %q, but %s %s is served by %q", pattern, method, path, got)
		}
	}
}
