package ui

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"

	"github.com/loomhq/loom/auth"
)

// maxLoginBytes bounds a sign-in form: a token and a path.
const maxLoginBytes = 16 << 10

func (u *UI) parseLogin() *template.Template {
	return template.Must(template.New("login").Funcs(u.csrf.funcs()).ParseFS(templateFS, "templates/login.html"))
}

// loginPage serves GET /login (the form) and POST /login (signing in
// with the token entered).
func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		u.renderLogin(w, r, http.StatusOK, safeNext(r.URL.Query().Get("next")), "")
	case http.MethodPost:
		u.login(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		u.renderError(w, r, http.StatusMethodNotAllowed, "Method not allowed.")
	}
}

func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBytes)
	// A login form posted by another site would sign the browser in as
	// someone else (login CSRF): the same check as every other post.
	if msg := u.checkPost(r); msg != "" {
		u.renderError(w, r, http.StatusForbidden, msg)
		return
	}
	if err := r.ParseForm(); err != nil {
		u.renderLogin(w, r, http.StatusBadRequest, "/", "The form could not be read.")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	on, err := u.cfg.Auth.Enabled(r.Context())
	if err != nil {
		u.logger.Error("ui: is authentication on", "err", err)
		u.renderLogin(w, r, http.StatusInternalServerError, next, "Internal error; the server log has the detail.")
		return
	}
	if !on {
		// Nothing to sign in to: the UI is open.
		u.redirect(w, r, next)
		return
	}
	secret := r.PostForm.Get("token")
	p, err := u.cfg.Auth.Authenticate(r.Context(), secret)
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		u.renderLogin(w, r, http.StatusUnauthorized, next, "That token is not valid: unknown or revoked.")
		return
	case err != nil:
		u.logger.Error("ui: sign in", "err", err)
		u.renderLogin(w, r, http.StatusInternalServerError, next, "Internal error; the server log has the detail.")
		return
	case !p.Role.Allows(auth.Viewer):
		u.renderLogin(w, r, http.StatusForbidden, next, "A "+string(p.Role)+" token cannot use the web UI.")
		return
	}
	u.startSession(w, r, auth.Hash(secret))
	u.redirect(w, r, next)
}

// logout serves /logout: it ends the session and shows the sign-in form.
func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	u.endSession(w, r)
	u.redirect(w, r, "/login")
}

func (u *UI) renderLogin(w http.ResponseWriter, r *http.Request, status int, next, msg string) {
	var buf bytes.Buffer
	err := u.auth.login.ExecuteTemplate(&buf, "login", struct {
		Base, Next, Msg string
	}{u.cfg.BasePath, next, msg})
	if err != nil {
		u.logger.Error("ui: render login", "err", err)
		http.Error(w, msg, http.StatusInternalServerError)
		return
	}
	page := u.fillToken(w, r, buf.Bytes())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(page)
}
