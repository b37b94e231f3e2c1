package server

import (
	"context"
	"mime"
	"net/http"
	"strings"

	"github.com/loomhq/loom/internal/webguard"
)

// apiContentSecurityPolicy lets an API answer load nothing and be framed
// by nothing: a JSON document that a browser is somehow made to render
// runs no script.
const apiContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'"

// CORS answers for Config.CORSOrigins.
const (
	corsAllowMethods  = "GET, POST, PUT, PATCH, DELETE"
	corsAllowHeaders  = "Authorization, Content-Type, " + RequestIDHeader
	corsExposeHeaders = RequestIDHeader + ", Location"
	corsMaxAge        = "600"
)

// webhookPath is the one write that is not held to the JSON-only,
// same-origin rules: other services deliver to it from their servers,
// with a body and Content-Type of their own, and its signature (which a
// page in a browser cannot make) is what authenticates it.
const webhookPath = "/hooks/{name}"

// withGuard sets the security headers of API answers, refuses a Host that
// is not one of Config.AllowedHosts, and answers CORS for
// Config.CORSOrigins, preflights included. Cross-origin writes are refused
// per route (guardRoute), where the webhook can be told apart.
func (s *Server) withGuard(next http.Handler) http.Handler {
	origins := map[string]bool{}
	for _, o := range s.cfg.CORSOrigins {
		if n, err := webguard.ParseOrigin(o); err == nil {
			origins[n] = true
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api := r.URL.Path == APIPrefix || strings.HasPrefix(r.URL.Path, APIPrefix+"/")
		h := w.Header()
		if api || s.cfg.UI == nil {
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Content-Security-Policy", apiContentSecurityPolicy)
		}
		if !webguard.HostAllowed(s.cfg.AllowedHosts, r.Host) {
			msg := "host " + quoteHost(r.Host) + " is not one of this server's names; " +
				"a name that reaches it through a proxy is allowed with loom server --allowed-host NAME"
			if !api && s.cfg.UI != nil {
				h.Set("X-Content-Type-Options", "nosniff")
				http.Error(w, msg, http.StatusForbidden)
				return
			}
			s.writeError(w, r, errorf(errForbidden, "%s", msg))
			return
		}
		if !api {
			next.ServeHTTP(w, r)
			return
		}
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		allowed := origin != "" && origins[strings.ToLower(origin)]
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		if r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != "" {
			if !allowed {
				s.writeError(w, r, errorf(errForbidden, "origin %s may not call this API; allow it with loom server --cors-origin %s", origin, origin))
				return
			}
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed {
			r = r.WithContext(withCORS(r.Context()))
		}
		next.ServeHTTP(w, r)
	})
}

// quoteHost quotes a Host header for a message, shortened so that a
// client cannot make the answer large.
func quoteHost(h string) string {
	if len(h) > 100 {
		h = h[:100] + "..."
	}
	return `"` + strings.ToValidUTF8(h, "?") + `"`
}

// guardRoute holds rt to the API's rules for browsers: a request that a
// page of another origin (not in Config.CORSOrigins) sent is refused, and
// a write must say its body is JSON. Browsers send a cross-origin
// text/plain or form POST without asking first (no CORS preflight);
// requiring application/json makes such a write need a preflight, which
// only a configured origin passes, and the origin check refuses the rest
// even from browsers that skip the preflight. Both hold for an empty body
// too: a cancel or retry needs none, and a page could send it.
func guardRoute(rt route) func(http.ResponseWriter, *http.Request) error {
	if rt.path == webhookPath {
		return rt.handler
	}
	write := rt.method != http.MethodGet && rt.method != http.MethodHead
	return func(w http.ResponseWriter, r *http.Request) error {
		if !corsAllowed(r.Context()) {
			origin := r.Header.Get("Origin")
			site := r.Header.Get("Sec-Fetch-Site")
			if write && webguard.CrossSite(site, origin, r.Host) {
				return errorf(errForbidden, "cross-site request refused (Origin %q, Sec-Fetch-Site %q); a page of another origin may call this API only when the server allows it with --cors-origin", origin, site)
			}
			// A read from a page elsewhere carries an Origin only when it
			// asks to read the answer, which only configured origins may.
			if !write && origin != "" && !webguard.SameOrigin(origin, r.Host) {
				return errorf(errForbidden, "cross-origin read refused (Origin %q); allow the origin with loom server --cors-origin", origin)
			}
		}
		if write {
			ct := r.Header.Get("Content-Type")
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || mt != "application/json" {
				if ct == "" {
					return errorf(errUnsupportedMediaType, "Content-Type must be application/json, even without a body")
				}
				return errorf(errUnsupportedMediaType, "Content-Type must be application/json, not %q", ct)
			}
		}
		return rt.handler(w, r)
	}
}

type corsKey struct{}

// withCORS marks a request as sent from one of Config.CORSOrigins.
func withCORS(ctx context.Context) context.Context {
	return context.WithValue(ctx, corsKey{}, true)
}

// corsAllowed reports whether the request came from one of
// Config.CORSOrigins.
func corsAllowed(ctx context.Context) bool {
	ok, _ := ctx.Value(corsKey{}).(bool)
	return ok
}
