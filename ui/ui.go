package ui

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/loomhq/loom/auth"
	"github.com/loomhq/loom/cluster"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/internal/errtext"
	"github.com/loomhq/loom/taskmaster"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures the handler New returns. Only Engine is required.
type Config struct {
	// Engine is what the UI shows and acts on. Required.
	Engine *engine.Engine
	// Taskmaster, when set, adds the pages of schedules, triggers,
	// heartbeat checks and alerts (with their notifiers and delivery log),
	// and their counts to the overview. Default nil: those pages are left
	// out of the navigation and answer that this server runs no
	// taskmaster.
	Taskmaster *taskmaster.Taskmaster
	// Logger receives errors the UI could not show to a user (a broken
	// event stream, a failed render). Default slog.Default().
	Logger *slog.Logger
	// BasePath is the path prefix the handler is mounted under, without a
	// trailing slash, so that links and asset URLs point inside it.
	// Default "" (mounted at the root).
	BasePath string
	// LivePollInterval is how often an open event stream looks for new
	// events and log output. Default DefaultLivePollInterval.
	LivePollInterval time.Duration
	// Auth, when set and on, makes every page need a signed-in session
	// (a token entered at /login) and hides what the token's role may
	// not do. Default nil: the UI is open.
	Auth *auth.Authenticator
	// Now is the UI's clock, for ages and "running for" durations.
	// Default time.Now.
	Now func() time.Time
	// AllowedHosts are the server's own names and addresses: a request
	// whose Host header is not one of them is refused 403 (DNS
	// rebinding). An entry with a port matches that port only; one
	// without matches any port. Default empty: every Host is served.
	AllowedHosts []string
	// Cluster, when set, adds the page of the servers sharing the
	// database, which one leads and since when. Default nil: the page
	// is left out of the navigation and answers 404.
	Cluster *cluster.Member
}

// DefaultLivePollInterval is how often, by default, an open event stream
// reads new events from the store: fast enough that a change shows within
// a blink, slow enough that a hundred open tabs cost the store little.
const DefaultLivePollInterval = 500 * time.Millisecond

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.BasePath = strings.TrimRight(c.BasePath, "/")
	if c.LivePollInterval <= 0 {
		c.LivePollInterval = DefaultLivePollInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// UI is the web UI's http.Handler.
type UI struct {
	cfg    Config
	engine *engine.Engine
	tm     *taskmaster.Taskmaster
	logger *slog.Logger
	pages  map[string]*template.Template
	mux    *http.ServeMux
	csrf   csrf
	// auth is the sign-in state; see auth.go.
	auth uiAuth
}

var _ http.Handler = (*UI)(nil)

// New returns the UI over cfg.Engine. It panics if cfg.Engine is nil or
// the embedded templates do not parse, programming errors no request could
// recover from.
func New(cfg Config) *UI {
	if cfg.Engine == nil {
		panic("ui: Config.Engine is required")
	}
	cfg = cfg.withDefaults()
	u := &UI{cfg: cfg, engine: cfg.Engine, tm: cfg.Taskmaster, logger: cfg.Logger, mux: http.NewServeMux(), csrf: newCSRF()}
	u.pages = u.parseTemplates()
	u.initAuth()

	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	u.mux.Handle("GET /static/", cacheFor(24*time.Hour, files))

	u.mux.HandleFunc("GET /{$}", u.wrap(u.overview))
	u.mux.HandleFunc("GET /tasks", u.wrap(u.taskList))
	u.mux.HandleFunc("GET /tasks/bulk", u.wrap(u.bulkConfirm))
	u.mux.HandleFunc("POST /tasks/bulk", u.wrap(u.bulkRun))
	u.mux.HandleFunc("GET /tasks/{id}", u.wrap(u.taskDetail))
	u.mux.HandleFunc("GET /tasks/{id}/log", u.wrap(u.taskLog))
	u.mux.HandleFunc("GET /tasks/{id}/compare", u.wrap(u.compareRuns))
	u.mux.HandleFunc("GET /tasks/{id}/input.json", u.wrap(u.taskJSON("input")))
	u.mux.HandleFunc("GET /tasks/{id}/output.json", u.wrap(u.taskJSON("output")))
	u.mux.HandleFunc("GET /tasks/{id}/attributes.json", u.wrap(u.taskJSON("attributes")))
	u.mux.HandleFunc("POST /tasks/{id}/cancel", u.wrap(u.cancelTask))
	u.mux.HandleFunc("POST /tasks/{id}/retry", u.wrap(u.retryTask))
	u.mux.HandleFunc("POST /tasks/{id}/rerun", u.wrap(u.rerunTask))
	u.mux.HandleFunc("POST /tasks/{id}/signal", u.wrap(u.needTM(u.signalTask)))
	u.mux.HandleFunc("GET /queues", u.wrap(u.queues))
	u.mux.HandleFunc("GET /workers", u.wrap(u.workers))
	u.mux.HandleFunc("GET /servers", u.wrap(u.servers))
	u.mux.HandleFunc("GET /types", u.wrap(u.types))
	u.mux.HandleFunc("GET /types/{name}", u.wrap(u.typeDetail))
	u.mux.HandleFunc("GET /submit", u.wrap(u.submitForm))
	u.mux.HandleFunc("POST /submit", u.wrap(u.submit))
	u.mux.HandleFunc("GET /schedules", u.wrap(u.needTM(u.schedules)))
	u.mux.HandleFunc("GET /schedules/{name}", u.wrap(u.needTM(u.scheduleDetail)))
	u.mux.HandleFunc("POST /schedules/{name}/pause", u.wrap(u.needTM(u.pauseSchedule(true))))
	u.mux.HandleFunc("POST /schedules/{name}/resume", u.wrap(u.needTM(u.pauseSchedule(false))))
	u.mux.HandleFunc("POST /schedules/{name}/trigger", u.wrap(u.needTM(u.triggerSchedule)))
	u.mux.HandleFunc("POST /schedules/{name}/delete", u.wrap(u.needTM(u.deleteSchedule)))
	u.mux.HandleFunc("GET /triggers", u.wrap(u.needTM(u.triggers)))
	u.mux.HandleFunc("GET /checks", u.wrap(u.needTM(u.checks)))
	u.mux.HandleFunc("GET /alerts", u.wrap(u.needTM(u.alerts)))
	u.mux.HandleFunc("GET /live", u.live)
	u.mux.HandleFunc("/", u.wrap(func(http.ResponseWriter, *http.Request) error {
		return errNotFound
	}))
	return u
}

// ServeHTTP serves one request. Paths are relative to Config.BasePath.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !u.guard(w, r) {
		return
	}
	if u.cfg.BasePath != "" {
		p := strings.TrimPrefix(r.URL.Path, u.cfg.BasePath)
		if len(p) == len(r.URL.Path) {
			http.NotFound(w, r)
			return
		}
		if p == "" {
			p = "/"
		}
		r2 := new(http.Request)
		*r2 = *r
		r2.URL = new(url.URL)
		*r2.URL = *r.URL
		r2.URL.Path = p
		r2.URL.RawPath = ""
		r = r2
	}
	u.serveSignedIn(w, r)
}

func cacheFor(d time.Duration, h http.Handler) http.Handler {
	v := fmt.Sprintf("public, max-age=%d", int(d.Seconds()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", v)
		h.ServeHTTP(w, r)
	})
}

// errNotFound is answered 404 with the error page.
var errNotFound = errors.New("not found")

// userError is a mistake the user can fix, shown with its status.
type userError struct {
	status int
	msg    string
}

func (e *userError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &userError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// wrap turns a handler returning an error into one that renders the error
// page: 404 for a missing task, 409 for an action that no longer applies,
// the user error's status, or 500 with the detail only in the log.
func (u *UI) wrap(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if msg := u.checkPost(r); msg != "" {
				u.renderError(w, r, http.StatusForbidden, msg)
				return
			}
		}
		err := h(w, r)
		if err == nil {
			return
		}
		var ue *userError
		switch {
		case errors.As(err, &ue):
			u.renderError(w, r, ue.status, ue.msg)
		case errors.Is(err, errNotFound), errors.Is(err, engine.ErrNotFound):
			u.renderError(w, r, http.StatusNotFound, "Not found: "+r.URL.Path)
		case errors.Is(err, engine.ErrConflict):
			u.renderError(w, r, http.StatusConflict, errtext.Clean(err.Error()))
		case errors.Is(err, engine.ErrInvalid), errors.Is(err, engine.ErrUnknownType), errors.Is(err, engine.ErrRefused),
			errors.Is(err, taskmaster.ErrInvalid):
			u.renderError(w, r, http.StatusBadRequest, errtext.Clean(err.Error()))
		case r.Context().Err() != nil:
			// The browser went away; nobody to answer.
		default:
			u.logger.Error("ui: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			u.renderError(w, r, http.StatusInternalServerError, "Internal error; the server log has the detail.")
		}
	}
}

// errNoTaskmaster answers the taskmaster pages of a UI configured
// without one (Config.Taskmaster nil).
var errNoTaskmaster = &userError{status: http.StatusNotFound,
	msg: "Schedules, triggers, checks and alerts are not enabled here: this server runs no taskmaster."}

// needTM guards a handler of the taskmaster pages.
func (u *UI) needTM(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if u.tm == nil {
			return errNoTaskmaster
		}
		return h(w, r)
	}
}

// sameOrigin refuses form posts another site makes a browser send: the
// UI has no session to steal, but an action is still an action.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		return s == "same-origin" || s == "none"
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		ou, err := url.Parse(o)
		return err == nil && ou.Host == r.Host
	}
	return true
}

// page is what every full page template gets.
type page struct {
	Title string
	Nav   string
	Base  string
	Data  any
}

// render executes the named page (or, with fragment set, one of its
// named templates) into a buffer first, so a failed render is a clean 500
// rather than half a page.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name, fragment string, p page) error {
	t, ok := u.pagesFor(r)[name]
	if !ok {
		return fmt.Errorf("ui: no page %q", name)
	}
	p.Base = u.cfg.BasePath
	var buf bytes.Buffer
	var err error
	if fragment != "" {
		err = t.ExecuteTemplate(&buf, fragment, p)
	} else {
		err = t.ExecuteTemplate(&buf, "layout", p)
	}
	if err != nil {
		return fmt.Errorf("ui: render %s %s: %w", name, fragment, err)
	}
	out := u.fillToken(w, r, buf.Bytes())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(out)
	return nil
}

func (u *UI) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	err := u.render(w, r, status, "error", "", page{Title: http.StatusText(status), Data: struct {
		Status int
		Msg    string
	}{status, msg}})
	if err != nil {
		u.logger.Error("ui: render error page", "err", err)
		http.Error(w, msg, status)
	}
}

// redirect sends the browser to path (under BasePath) after a form post:
// 303 for a plain form, HX-Redirect for an htmx request.
func (u *UI) redirect(w http.ResponseWriter, r *http.Request, path string) {
	target := u.cfg.BasePath + path
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
