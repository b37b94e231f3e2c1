package ui

import (
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/loomhq/loom/auth"
)

// SessionCookie is the name of the UI's session cookie.
const SessionCookie = "loom_session"

// DefaultSessionTTL is how long a UI session lasts after sign-in.
const DefaultSessionTTL = 12 * time.Hour

// maxSessions bounds the sessions kept in memory; a sign-in past it
// first forgets the expired ones, then the oldest.
const maxSessions = 10000

// routeRoles is the least role each UI route needs, by its mux pattern.
// A pattern missing here needs admin, so a page added without an entry
// is closed rather than open. Sign-in and sign-out are served before the
// mux and need none.
var routeRoles = map[string]auth.Role{
	"GET /static/":                   auth.Public,
	"GET /{$}":                       auth.Viewer,
	"GET /tasks":                     auth.Viewer,
	"GET /tasks/{id}":                auth.Viewer,
	"GET /tasks/{id}/log":            auth.Viewer,
	"GET /tasks/{id}/compare":        auth.Viewer,
	"POST /tasks/{id}/cancel":        auth.Operator,
	"GET /tasks/bulk":                auth.Operator,
	"POST /tasks/bulk":               auth.Operator,
	"POST /tasks/{id}/retry":         auth.Operator,
	"POST /tasks/{id}/rerun":         auth.Operator,
	"POST /tasks/{id}/signal":        auth.Operator,
	"GET /queues":                    auth.Viewer,
	"GET /workers":                   auth.Viewer,
	"GET /types":                     auth.Viewer,
	"GET /types/{name}":              auth.Viewer,
	"GET /submit":                    auth.Operator,
	"POST /submit":                   auth.Operator,
	"GET /schedules":                 auth.Viewer,
	"GET /schedules/{name}":          auth.Viewer,
	"POST /schedules/{name}/pause":   auth.Operator,
	"POST /schedules/{name}/resume":  auth.Operator,
	"POST /schedules/{name}/trigger": auth.Operator,
	"POST /schedules/{name}/delete":  auth.Admin,
	"GET /triggers":                  auth.Viewer,
	"GET /checks":                    auth.Viewer,
	"GET /alerts":                    auth.Viewer,
	"GET /live":                      auth.Viewer,
	"/":                              auth.Viewer,
}

// anonymous is who acts while authentication is off.
var anonymous = &auth.Principal{Name: auth.Anonymous, Role: auth.Admin}

// uiAuth is the UI's sign-in state: the sessions, and the pages as each
// role sees them.
type uiAuth struct {
	// pages are the templates with can, signedIn and role bound to each
	// role; the UI's own pages serve the anonymous open UI.
	pages    map[auth.Role]map[string]*template.Template
	login    *template.Template
	mu       sync.Mutex
	sessions map[string]session
}

// session is one signed-in browser: the hash of the token it signed in
// with, checked again (against revocation) on every request.
type session struct {
	hash    string
	expires time.Time
}

func (u *UI) initAuth() {
	u.auth.sessions = map[string]session{}
	u.auth.login = u.parseLogin()
	if u.cfg.Auth == nil {
		return
	}
	u.auth.pages = map[auth.Role]map[string]*template.Template{}
	for _, role := range auth.Roles {
		pages := make(map[string]*template.Template, len(u.pages))
		for name, t := range u.pages {
			c := template.Must(t.Clone())
			c.Funcs(template.FuncMap{
				"can":      func(need string) bool { return role.Allows(auth.Role(need)) },
				"signedIn": func() bool { return true },
				"role":     func() string { return string(role) },
			})
			pages[name] = c
		}
		u.auth.pages[role] = pages
	}
}

// pagesFor returns the templates as the request's signed-in role sees
// them.
func (u *UI) pagesFor(r *http.Request) map[string]*template.Template {
	if p := auth.FromContext(r.Context()); p != nil && u.auth.pages[p.Role] != nil && p.Name != auth.Anonymous {
		return u.auth.pages[p.Role]
	}
	return u.pages
}

// serveSignedIn serves r when authentication is off, or when it comes
// from a signed-in session whose token is still valid and whose role
// allows the route: a page without one redirects to the sign-in form, an
// action without one is 401, and a route above the role is 403.
func (u *UI) serveSignedIn(w http.ResponseWriter, r *http.Request) {
	a := u.cfg.Auth
	if a == nil {
		u.mux.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), anonymous)))
		return
	}
	switch r.URL.Path {
	case "/login":
		u.loginPage(w, r)
		return
	case "/logout":
		u.logout(w, r)
		return
	}
	_, pattern := u.mux.Handler(r)
	need, ok := routeRoles[pattern]
	if !ok {
		need = auth.Admin
	}
	if need == auth.Public {
		u.mux.ServeHTTP(w, r)
		return
	}
	on, err := a.Enabled(r.Context())
	if err != nil {
		u.logger.Error("ui: is authentication on", "err", err)
		u.renderError(w, r, http.StatusInternalServerError, "Internal error; the server log has the detail.")
		return
	}
	if !on {
		u.mux.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), anonymous)))
		return
	}
	p := u.sessionPrincipal(w, r)
	if p == nil {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			u.redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()))
			return
		}
		u.renderError(w, r, http.StatusUnauthorized, "Sign in first: your session has ended.")
		return
	}
	r = r.WithContext(auth.WithPrincipal(r.Context(), p))
	if !p.Role.Allows(need) {
		u.renderError(w, r, http.StatusForbidden, "Your token's role ("+string(p.Role)+") may not do this; it needs "+string(need)+".")
		return
	}
	u.mux.ServeHTTP(w, r)
}

// sessionPrincipal returns who r's session signed in as, or nil when it
// has no session, or one that expired or whose token was revoked (which
// it then forgets, clearing the cookie).
func (u *UI) sessionPrincipal(w http.ResponseWriter, r *http.Request) *auth.Principal {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	now := u.cfg.Now()
	u.auth.mu.Lock()
	s, ok := u.auth.sessions[c.Value]
	if ok && !now.Before(s.expires) {
		delete(u.auth.sessions, c.Value)
		ok = false
	}
	u.auth.mu.Unlock()
	if !ok {
		u.clearCookie(w, r)
		return nil
	}
	p, err := u.cfg.Auth.AuthenticateHash(r.Context(), s.hash)
	if err != nil {
		u.auth.mu.Lock()
		delete(u.auth.sessions, c.Value)
		u.auth.mu.Unlock()
		u.clearCookie(w, r)
		return nil
	}
	return p
}

// startSession signs the browser in with the token whose hash is hash.
func (u *UI) startSession(w http.ResponseWriter, r *http.Request, hash string) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	now := u.cfg.Now()
	u.auth.mu.Lock()
	if len(u.auth.sessions) >= maxSessions {
		oldest := ""
		for k, s := range u.auth.sessions {
			if !now.Before(s.expires) {
				delete(u.auth.sessions, k)
			} else if oldest == "" || s.expires.Before(u.auth.sessions[oldest].expires) {
				oldest = k
			}
		}
		if len(u.auth.sessions) >= maxSessions {
			delete(u.auth.sessions, oldest)
		}
	}
	u.auth.sessions[id] = session{hash: hash, expires: now.Add(DefaultSessionTTL)}
	u.auth.mu.Unlock()
	http.SetCookie(w, u.cookie(r, id, int(DefaultSessionTTL.Seconds())))
}

// endSession forgets r's session and clears its cookie.
func (u *UI) endSession(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		u.auth.mu.Lock()
		delete(u.auth.sessions, c.Value)
		u.auth.mu.Unlock()
	}
	u.clearCookie(w, r)
}

func (u *UI) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, u.cookie(r, "", -1))
}

// cookie is the session cookie: never readable by scripts, never sent
// by another site's request, and only over HTTPS when served over it.
func (u *UI) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     SessionCookie,
		Value:    value,
		Path:     u.cfg.BasePath + "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	}
}

// safeNext keeps a post-sign-in target inside the UI: a path, not a URL
// to another site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}
