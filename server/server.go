// Package server is loom's HTTP API: a JSON surface over an engine.Engine
// under /api/v1, described by the OpenAPI 3 document it serves at
// /api/v1/openapi.json.
//
// The handler is strict about what it accepts, so that a client's mistake
// fails loudly instead of being half-understood: unknown fields, trailing
// data and bodies over Config.MaxBodyBytes are errors. Every error is a
// JSON object {"error": {"code": "...", "message": "..."}} whose code and
// HTTP status come from one table (see error.go); internal errors are
// logged with the request id and answered without their detail.
package server

import (
	"log/slog"
	"net/http"
	"sync"

	"github.com/loomhq/loom/auth"
	"github.com/loomhq/loom/cluster"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/taskmaster"
)

// DefaultMaxBodyBytes is the largest request body the API reads when
// Config.MaxBodyBytes is zero: a task's input is meant to be a few
// parameters, not a payload (large data belongs in object storage).
const DefaultMaxBodyBytes = 1 << 20

// APIPrefix is where the API is mounted, the base of every API path.
const APIPrefix = "/api/v1"

// MetricsPath is where Config.Metrics is served.
const MetricsPath = "/metrics"

// Config configures the handler New returns. Only Engine is required.
type Config struct {
	// Engine runs and keeps the tasks the API exposes. Required.
	Engine *engine.Engine
	// Logger receives the access log and the detail of internal errors.
	// Default slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes caps request bodies; a larger body is answered 413.
	// Default DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int64
	// Taskmaster, when set, serves schedules, triggers, events, checks,
	// alerts and signals; without it those routes answer 503.
	Taskmaster *taskmaster.Taskmaster
	// Auth, when set, authenticates requests by their bearer token and
	// serves the token routes; see package auth. Default nil: every
	// route is open and the token routes answer 503.
	Auth *auth.Authenticator
	// UI, when set, serves every path outside the API (from "/"), so a web
	// UI shares the API's origin. Default: such paths are 404.
	UI http.Handler
	// AllowedHosts are the server's own names and addresses: a request
	// whose Host header is not one of them is refused 403, UI paths
	// included, so that a DNS-rebinding page cannot reach the server
	// under a name of its own. An entry with a port matches that port
	// only; one without matches any port. Default empty: every Host is
	// accepted (the server cannot know its names; `loom server` fills
	// them in from its listen address).
	AllowedHosts []string
	// Metrics, when set, is served at GET /metrics (outside the API
	// prefix, where Prometheus looks by default) to the viewer role: a
	// scraper sends a viewer token while authentication is on. Default:
	// /metrics is 404.
	Metrics http.Handler
	// CORSOrigins are other origins (scheme://host[:port]) whose pages may
	// call the API from a browser: they get CORS answers, and their
	// cross-site writes are not refused. Default none: the API refuses
	// writes a page of another origin sends.
	CORSOrigins []string
	// LeaseKey signs the lease tokens of the HTTP worker protocol
	// (/api/v1/workers/...), so that a worker can only report on
	// attempts it was handed. Servers sharing a store must share it.
	// Default: a random key, so that tokens do not outlive the Server
	// (a worker whose token is refused after a restart drops its task,
	// which is re-run once its lease lapses).
	LeaseKey []byte
	// Cluster, when set, answers GET /api/v1/servers with the servers
	// sharing the database and their leader. Default nil: that route
	// answers 503.
	Cluster *cluster.Member
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return c
}

// Server is the API's http.Handler. It keeps no state of its own beyond its
// configuration: every request goes to the engine.
type Server struct {
	cfg     Config
	engine  *engine.Engine
	logger  *slog.Logger
	mux     *http.ServeMux
	routes  []route
	handler http.Handler
	// leases signs and checks the worker protocol's lease tokens.
	leases *leaseSigner
	// stopWaits, closed by StopWaiting, ends the long polls of claims.
	stopWaits     chan struct{}
	stopWaitsOnce sync.Once
}

var _ http.Handler = (*Server)(nil)

// route is one API operation: the method and path (under APIPrefix, in
// ServeMux pattern syntax) and what serves it. The list of routes is the one
// place operations are declared, so the OpenAPI test can compare it with the
// document.
type route struct {
	method string
	path   string
	// role is the least a caller's token needs (auth.Public: none).
	role    auth.Role
	handler func(w http.ResponseWriter, r *http.Request) error
}

// New returns the API handler over cfg.Engine. It panics if cfg.Engine is
// nil, a programming error that no request could recover from.
func New(cfg Config) *Server {
	if cfg.Engine == nil {
		panic("server: Config.Engine is required")
	}
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, engine: cfg.Engine, logger: cfg.Logger, mux: http.NewServeMux(),
		leases: newLeaseSigner(cfg.LeaseKey), stopWaits: make(chan struct{})}
	s.routes = []route{
		{http.MethodPost, "/tasks", auth.Operator, s.submitTask},
		{http.MethodGet, "/tasks", auth.Viewer, s.listTasks},
		{http.MethodGet, "/tasks/{id}", auth.Viewer, s.getTask},
		{http.MethodPost, "/tasks/{id}/cancel", auth.Operator, s.cancelTask},
		{http.MethodPost, "/tasks/{id}/retry", auth.Operator, s.retryTask},
		{http.MethodPost, "/tasks:retry", auth.Operator, s.bulkRetry},
		{http.MethodPost, "/tasks:cancel", auth.Operator, s.bulkCancel},
		{http.MethodGet, "/tasks/{id}/logs", auth.Viewer, s.taskLogs},
		{http.MethodGet, "/tasks/{id}/events", auth.Viewer, s.taskEvents},
		{http.MethodGet, "/tasks/{id}/children", auth.Viewer, s.taskChildren},
		{http.MethodGet, "/queues", auth.Viewer, s.listQueues},
		{http.MethodGet, "/types", auth.Viewer, s.listTypes},
		{http.MethodGet, "/servers", auth.Viewer, s.listServers},
		{http.MethodGet, "/workers", auth.Viewer, s.listWorkers},
		{http.MethodGet, "/healthz", auth.Public, s.healthz},
		{http.MethodGet, "/openapi.json", auth.Public, s.openAPI},
	}
	s.routes = append(s.routes, s.taskmasterRoutes()...)
	s.routes = append(s.routes, s.tokenRoutes()...)
	s.routes = append(s.routes, s.workerRoutes()...)
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range s.routes {
		authed := rt
		authed.handler = s.authorize(rt)
		s.mux.Handle(rt.method+" "+APIPrefix+rt.path, s.wrap(guardRoute(authed)))
		if _, ok := allowed[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	// A path served for other methods answers 405 in the API's JSON shape:
	// a pattern without a method is less specific than those with one, so
	// it only catches the methods no route takes.
	for _, p := range paths {
		s.mux.Handle(APIPrefix+p, s.wrap(methodNotAllowed(allowed[p])))
	}
	if cfg.Metrics != nil {
		rt := route{http.MethodGet, MetricsPath, auth.Viewer, func(w http.ResponseWriter, r *http.Request) error {
			cfg.Metrics.ServeHTTP(w, r)
			return nil
		}}
		authed := rt
		authed.handler = s.authorize(rt)
		s.mux.Handle(rt.method+" "+MetricsPath, s.wrap(guardRoute(authed)))
	}
	s.mux.Handle(APIPrefix+"/", s.wrap(func(http.ResponseWriter, *http.Request) error {
		return errorf(errRouteNotFound, "no such API path")
	}))
	if cfg.UI != nil {
		s.mux.Handle("/", cfg.UI)
	} else {
		s.mux.Handle("/", s.wrap(func(http.ResponseWriter, *http.Request) error {
			return errorf(errRouteNotFound, "not found; the API is under %s", APIPrefix)
		}))
	}
	s.handler = s.withRequestID(s.withAccessLog(s.withRecover(s.withGuard(s.withCanonicalPath(s.mux)))))
	return s
}

// StopWaiting answers the claims of HTTP workers that wait for work at
// once, with no tasks, and those that come later without waiting: call it
// as the HTTP server shuts down (http.Server.RegisterOnShutdown), so that
// long polls do not hold the shutdown up. Calling it again does nothing.
func (s *Server) StopWaiting() {
	s.stopWaitsOnce.Do(func() { close(s.stopWaits) })
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// wrap turns a handler that returns an error into an http.Handler that
// answers the error through the error table.
func (s *Server) wrap(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func methodNotAllowed(methods []string) func(http.ResponseWriter, *http.Request) error {
	allow := ""
	for i, m := range methods {
		if i > 0 {
			allow += ", "
		}
		allow += m
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", allow)
		return errorf(errMethodNotAllowed, "method %s not allowed; allowed: %s", r.Method, allow)
	}
}
