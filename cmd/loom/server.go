package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/cluster"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/flowfile"
	"github.com/loomhq/loom/server"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/ui"
	"github.com/spf13/cobra"
)

// serverOptions are the flags of `loom server`.
type serverOptions struct {
	// retain and retainQueues are --retain and --retain-queue.
	retain       time.Duration
	retainQueues []string
	// runtimes say what submitted tasks may do; secretKeyFile holds the
	// key that seals trigger and notifier secrets.
	runtimes      runtimeOptions
	secretKeyFile string

	addr     string
	db       string
	dbSchema string
	dbSync   string
	flows    string
	workers  int
	lease    time.Duration
	// leaderLease is how long the leader of the servers sharing the
	// database leads unless it renews (package cluster).
	leaderLease time.Duration
	// busDir, when set, is the bus (see parseBus) shared with `loom
	// worker` processes; externalQueues are the queues only they serve.
	busDir         string
	externalQueues []string
	// httpQueues are the queues only workers of the HTTP worker protocol
	// serve.
	httpQueues []string
	web        webOptions
	// requireAuth turns authentication on before any token exists;
	// insecureNoAuth allows listening beyond loopback without it.
	requireAuth    bool
	insecureNoAuth bool
	telemetry      telemetryOptions
}

// shutdownTimeout bounds how long the HTTP server waits for requests in
// flight when asked to stop.
const shutdownTimeout = 10 * time.Second

func (m *Main) newServerCommand() *cobra.Command {
	var o serverOptions
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the API, web UI, embedded workers and reaper over a SQLite or PostgreSQL database",
		Long: `Run loom's server: the HTTP API (under /api/v1), the web UI (at /), the
engine's dispatcher, embedded workers and reaper, with every task kept in a
SQLite database file or, given --db postgres://..., in PostgreSQL (a
schema of its own with --db-schema, created when missing). The built-in task type http is registered, exec only with
--allow-exec or --allow-exec-command (flow files' exec steps always run); --flows adds the flow files
(*.yaml) of a directory, each as a task type named after its flow, and
their allow_exec patterns to those of --allow-exec-command.
Once an API token exists ('loom tokens create'), every request needs one.
Listening beyond loopback without one is refused unless --insecure-no-auth.
SIGINT or SIGTERM shut it down gracefully.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return m.runServer(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	o.runtimes.addFlags(cmd)
	o.telemetry.addFlags(cmd)
	f.StringVar(&o.secretKeyFile, "secret-key-file", "", "file of the 32-byte key sealing trigger and notifier secrets, created when missing (default: the SQLite database's path + .key, or loom.key for PostgreSQL; $"+secretKeyEnv+" instead)")
	f.StringVar(&o.addr, "addr", "127.0.0.1:7070", "address to listen on")
	f.StringVar(&o.db, "db", "loom.db", "SQLite database file (or sqlite:FILE), created when missing; or a postgres:// URL")
	f.StringVar(&o.dbSchema, "db-schema", "", "PostgreSQL schema to keep loom's tables in, created when missing (default: the URL's search_path, else public)")
	f.StringVar(&o.dbSync, "db-sync", "normal", `SQLite synchronous setting: "normal" survives a crash of the process, "full" also a power cut, slower`)
	f.StringVar(&o.flows, "flows", "", "directory of flow files to register")
	f.IntVar(&o.workers, "workers", 0, "embedded worker goroutines (default 4×CPUs; negative: none)")
	f.DurationVar(&o.lease, "lease", engine.DefaultLeaseDuration, "how long a running task's worker may go silent before the task is re-queued")
	f.DurationVar(&o.retain, "retain", 0, "delete ended tasks, with their steps, logs and events, this long after they ended, e.g. 720h (default: keep for ever)")
	f.StringArrayVar(&o.retainQueues, "retain-queue", nil, "QUEUE=DURATION: the queue's own retention instead of --retain; 0 keeps its tasks for ever (repeatable)")
	f.DurationVar(&o.leaderLease, "leader-lease", cluster.DefaultLease, "servers sharing a database elect a leader that runs schedules, backfills, checks, the reaper and alert delivery; how long the others wait for a dead leader before one takes over")
	f.StringVar(&o.busDir, "bus", "", busFlagHelp+" (default: in-process)")
	f.StringSliceVar(&o.externalQueues, "external-queue", nil, "a queue only 'loom worker' processes serve, declared before any announces it (repeatable; needs --bus; a worker's announcement declares its queues too)")
	f.StringSliceVar(&o.httpQueues, "http-queue", nil, "a queue only workers of the HTTP worker protocol serve, claiming its tasks under /api/v1/workers (repeatable)")
	f.StringArrayVar(&o.web.corsOrigins, "cors-origin", nil, "an origin (scheme://host[:port]) whose pages may call the API from a browser (repeatable)")
	f.StringArrayVar(&o.web.allowedHosts, "allowed-host", nil, "a further name (host[:port]) the server answers to, as behind a proxy or load balancer; the listen address's names are allowed already (repeatable)")
	f.StringVar(&o.web.tlsCert, "tls-cert", "", "PEM certificate file: serve HTTPS (with --tls-key)")
	f.StringVar(&o.web.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	f.BoolVar(&o.requireAuth, "require-auth", false, "require an API token on every request even before one exists (default: once one exists)")
	f.BoolVar(&o.insecureNoAuth, "insecure-no-auth", false, "allow listening beyond loopback without authentication (logs a warning)")
	return cmd
}

func (m *Main) runServer(ctx context.Context, o serverOptions) error {
	if err := o.runtimes.validate(); err != nil {
		return err
	}
	if err := o.runtimes.connectKube(); err != nil {
		return err
	}
	if o.retain < 0 {
		return &usageError{fmt.Errorf("--retain %s: must not be negative", o.retain)}
	}
	if _, err := parseRetainQueues(o.retainQueues); err != nil {
		return err
	}
	sync := strings.ToUpper(o.dbSync)
	if sync != "NORMAL" && sync != "FULL" {
		return &usageError{fmt.Errorf("--db-sync must be normal or full, not %q", o.dbSync)}
	}
	if len(o.externalQueues) > 0 && o.busDir == "" {
		return &usageError{errors.New("--external-queue needs --bus: workers elsewhere reach the server through a shared bus")}
	}
	httpQueues, err := pullQueues(o)
	if err != nil {
		return err
	}
	corsOrigins, err := o.web.check()
	if err != nil {
		return err
	}
	tlsConfig, err := o.web.tlsConfig()
	if err != nil {
		return err
	}
	tel, err := o.telemetry.start(ctx, m, "loom-server")
	if err != nil {
		return err
	}
	logger := tel.logger
	dbo := dbOptions{db: o.db, schema: o.dbSchema, sync: sync}
	if err := dbo.check(); err != nil {
		return err
	}
	if dbo.key, err = m.secretKey(keyFileBase(o.db), o.secretKeyFile); err != nil {
		return err
	}
	st, err := dbo.open(ctx)
	if err != nil {
		return err
	}
	m.onClose(st.Close)

	cfg, err := m.serverBus(ctx, o)
	if err != nil {
		return err
	}
	// Breaker events reach the taskmaster, which starts after the engine.
	events := loom.NewEventEmitter()
	cfg.Store, cfg.Logger, cfg.Workers, cfg.LeaseDuration = st, logger, o.workers, o.lease
	if cfg.RetainQueues, err = parseRetainQueues(o.retainQueues); err != nil {
		return err
	}
	cfg.Retain = o.retain
	cfg.PullQueues = httpQueues
	cfg.Events, cfg.Metrics = events, tel.metrics
	// Only the elected leader reaps; member is set before the engine runs.
	var member *cluster.Member
	cfg.Leads = func() bool { return member.Leading() }
	var flowFiles []*flowfile.File
	if o.flows != "" {
		// Their allow_exec patterns are part of the engine's handlers;
		// they are built once the taskmaster's wait type exists.
		if flowFiles, err = loadFlowDir(o.flows); err != nil {
			return err
		}
		o.runtimes.addFlowAllowlist(flowFiles, logger)
	}
	if cfg.Handlers, err = o.runtimes.handlers(); err != nil {
		return err
	}
	// Admit learns the flows' step types once the flows are built, before
	// the server listens.
	steps := &stepSet{}
	if cfg.Admit, err = o.runtimes.admit(steps); err != nil {
		return err
	}
	eng, err := engine.New(cfg)
	if err != nil {
		return fmt.Errorf("start engine: %w", err)
	}
	m.onClose(eng.Close)
	o.runtimes.reapContainers(ctx, eng, logger)
	o.runtimes.reapJobs(ctx, eng, logger)
	tm, err := startTaskmaster(eng, st, logger, o.runtimes.notifierClient(), isPostgresURL(o.db))
	if err != nil {
		return err
	}
	events.On("", tm.BreakerListener())
	var flows []string
	if o.flows != "" {
		tasks, schedules, err := buildFlows(flowFiles, o.runtimes.flowTasks(), tm.WaitTask())
		if err != nil {
			return err
		}
		steps.set(stepTypes(tasks))
		for _, t := range tasks {
			if err := eng.Register(t); err != nil {
				return fmt.Errorf("register flow %s: %w", t.Name, err)
			}
			flows = append(flows, t.Name)
		}
		if err := applyFlowSchedules(ctx, tm, schedules, logger); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	authn := serverAuth(st, o.requireAuth)
	dbArgs := redactDB(o.db)
	if o.dbSchema != "" {
		dbArgs += " --db-schema " + o.dbSchema
	}
	if err := checkListen(ctx, ln, authn, o.insecureNoAuth, dbArgs, logger); err != nil {
		_ = ln.Close()
		return err
	}
	if !loopback(ln) && !o.insecureNoAuth {
		// Exposed, the server must not fall open when its last token
		// is revoked.
		authn = serverAuth(st, true)
	}
	hosts := o.web.hostsFor(o.addr, ln.Addr())
	if member, err = joinCluster(st, serverID(o.db, ln.Addr().String()), ln.Addr().String(), o.leaderLease, logger); err != nil {
		_ = ln.Close()
		return err
	}
	api := server.New(server.Config{
		Engine:       eng,
		Logger:       logger,
		Taskmaster:   tm,
		Auth:         authn,
		UI:           ui.New(ui.Config{Engine: eng, Logger: logger, Taskmaster: tm, Auth: authn, AllowedHosts: hosts, Cluster: member}),
		Cluster:      member,
		AllowedHosts: hosts,
		CORSOrigins:  corsOrigins,
		LeaseKey:     leaseKey(dbo.key),
		Metrics:      tel.metrics.Handler(),
	})
	srv := &http.Server{
		Handler:           api,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// Claims waiting for work answer at once, so that they do not hold
	// the shutdown up.
	srv.RegisterOnShutdown(api.StopWaiting)

	stopMetrics, err := o.telemetry.serveMetrics(ctx, tel)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer func() { _ = stopMetrics() }()
	// The engine runs until the HTTP server has stopped, so that requests
	// in flight at shutdown still reach a working engine.
	engCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(engCtx) }()
	// The taskmaster runs on the leader only, once per term of lead.
	tmDone := make(chan error, 1)
	go func() {
		tmDone <- member.Run(engCtx, func(ctx context.Context) {
			if err := tm.Run(ctx); err != nil {
				logger.Error("taskmaster", "err", err)
			}
		})
	}()
	serveDone := make(chan error, 1)
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
		go func() { serveDone <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { serveDone <- srv.Serve(ln) }()
	}

	base := scheme + "://" + ln.Addr().String()
	logger.Info("loom server listening", "url", base,
		"api", base+server.APIPrefix, "db", redactDB(o.db), "flows", strings.Join(flows, ","))

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-serveDone:
		runErr = fmt.Errorf("http server: %w", err)
		serveDone <- nil
	case err := <-engDone:
		runErr = fmt.Errorf("engine stopped: %w", err)
		engDone <- nil
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("http shutdown: %w", err))
	}
	if err := <-serveDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
		runErr = errors.Join(runErr, fmt.Errorf("http server: %w", err))
	}
	stopEngine()
	if err := <-tmDone; err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("taskmaster: %w", err))
	}
	if err := <-engDone; err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("engine: %w", err))
	}
	if runErr == nil {
		logger.Info("stopped")
	}
	return runErr
}

// serverBus returns the engine config's bus and queues: the in-process
// bus, or the bus in --bus with the default queue served here and the
// --external-queue ones left to `loom worker` processes.
func (m *Main) serverBus(ctx context.Context, o serverOptions) (engine.Config, error) {
	var cfg engine.Config
	if o.busDir == "" {
		return cfg, nil
	}
	spec, err := parseBus(o.busDir)
	if err != nil {
		return cfg, &usageError{fmt.Errorf("--bus: %w", err)}
	}
	b, err := openBus(ctx, spec)
	if err != nil {
		return cfg, fmt.Errorf("open bus %s: %w", spec, err)
	}
	m.onClose(b.Close)
	cfg.Bus = b
	cfg.Queues = []engine.Queue{{Name: loom.DefaultQueue}}
	for _, q := range o.externalQueues {
		if q == loom.DefaultQueue {
			return cfg, &usageError{fmt.Errorf("--external-queue %s: the default queue is the server's own", q)}
		}
		cfg.Queues = append(cfg.Queues, engine.Queue{Name: q, External: true})
	}
	return cfg, nil
}

// pullQueues returns the --http-queue queues, refusing one the server
// runs itself (the default queue, an --external-queue) or names twice.
func pullQueues(o serverOptions) ([]engine.Queue, error) {
	var out []engine.Queue
	for _, q := range o.httpQueues {
		if q == loom.DefaultQueue || slices.Contains(o.externalQueues, q) {
			return nil, &usageError{fmt.Errorf("--http-queue %s: the queue is served by the server or by 'loom worker' processes already", q)}
		}
		if slices.ContainsFunc(out, func(s engine.Queue) bool { return s.Name == q }) {
			return nil, &usageError{fmt.Errorf("--http-queue %s given twice", q)}
		}
		out = append(out, engine.Queue{Name: q})
	}
	return out, nil
}

// leaseKey derives the key that signs the HTTP worker protocol's lease
// tokens from the server's secret key, so that servers sharing a database
// and its key accept each other's tokens, and a restart keeps them valid.
func leaseKey(secret []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("loom worker lease tokens v1"))
	return h.Sum(nil)
}

// serverID names this server among those sharing its database. On
// SQLite, whose file only servers of this machine can open, it is the
// machine and the file, whatever port the server listens on: a server
// restarted after a crash, on any port, is known again and leads at once
// instead of waiting out the lease of its previous life. On PostgreSQL it
// is the machine and the listen address, which no other live server can
// share.
func serverID(db, addr string) string {
	host, _ := os.Hostname()
	if isPostgresURL(db) {
		return host + "/" + addr
	}
	path := sqlitePath(db)
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return host + "/sqlite:" + path
}

// joinCluster makes this server a member of those sharing its database,
// which elect the leader that runs the singleton work.
func joinCluster(st store.Store, id, addr string, lease time.Duration, logger *slog.Logger) (*cluster.Member, error) {
	cs, ok := st.(store.ClusterStore)
	if !ok {
		return nil, fmt.Errorf("join cluster: the store %T keeps no servers", st)
	}
	m, err := cluster.New(cluster.Config{Store: cs, ID: id, Addr: addr, Lease: lease, Logger: logger})
	if err != nil {
		return nil, &usageError{fmt.Errorf("--leader-lease: %w", err)}
	}
	return m, nil
}
