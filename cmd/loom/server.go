package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/server"
	"github.com/loomhq/loom/ui"
	"github.com/spf13/cobra"
)

// serverOptions are the flags of `loom server`.
type serverOptions struct {
	addr    string
	db      string
	dbSync  string
	flows   string
	workers int
	lease   time.Duration
	// busDir, when set, is the bus (see parseBus) shared with `loom
	// worker` processes; externalQueues are the queues only they serve.
	busDir         string
	externalQueues []string
}

// shutdownTimeout bounds how long the HTTP server waits for requests in
// flight when asked to stop.
const shutdownTimeout = 10 * time.Second

func (m *Main) newServerCommand() *cobra.Command {
	var o serverOptions
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the API, web UI, embedded workers and reaper over a SQLite database",
		Long: `Run loom's server: the HTTP API (under /api/v1), the web UI (at /), the
engine's dispatcher, embedded workers and reaper, with every task kept in a
SQLite database. The built-in task
types exec and http are always registered; --flows adds the flow files
(*.yaml) of a directory, each as a task type named after its flow.
SIGINT or SIGTERM shut it down gracefully.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return m.runServer(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:7070", "address to listen on")
	f.StringVar(&o.db, "db", "loom.db", "SQLite database file, created when missing")
	f.StringVar(&o.dbSync, "db-sync", "normal", `SQLite synchronous setting: "normal" survives a crash of the process, "full" also a power cut, slower`)
	f.StringVar(&o.flows, "flows", "", "directory of flow files to register")
	f.IntVar(&o.workers, "workers", 0, "embedded worker goroutines (default 4×CPUs; negative: none)")
	f.DurationVar(&o.lease, "lease", engine.DefaultLeaseDuration, "how long a running task's worker may go silent before the task is re-queued")
	f.StringVar(&o.busDir, "bus", "", busFlagHelp+" (default: in-process)")
	f.StringSliceVar(&o.externalQueues, "external-queue", nil, "a queue only 'loom worker' processes serve (repeatable; needs --bus)")
	return cmd
}

func (m *Main) runServer(ctx context.Context, o serverOptions) error {
	sync := strings.ToUpper(o.dbSync)
	if sync != "NORMAL" && sync != "FULL" {
		return &usageError{fmt.Errorf("--db-sync must be normal or full, not %q", o.dbSync)}
	}
	if len(o.externalQueues) > 0 && o.busDir == "" {
		return &usageError{errors.New("--external-queue needs --bus: workers elsewhere reach the server through a shared bus")}
	}
	logger := slog.New(slog.NewTextHandler(m.Stderr, nil))
	st, err := openStore(ctx, o.db, sync)
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
	cfg.Handlers, cfg.Events = builtinHandlers(), events
	eng, err := engine.New(cfg)
	if err != nil {
		return fmt.Errorf("start engine: %w", err)
	}
	m.onClose(eng.Close)
	tm, err := startTaskmaster(eng, st, logger)
	if err != nil {
		return err
	}
	events.On("", tm.BreakerListener())
	var flows []string
	if o.flows != "" {
		tasks, schedules, err := loadFlowDir(o.flows, tm.WaitTask())
		if err != nil {
			return err
		}
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
	srv := &http.Server{
		Handler: server.New(server.Config{
			Engine:     eng,
			Logger:     logger,
			Taskmaster: tm,
			UI:         ui.New(ui.Config{Engine: eng, Logger: logger, Taskmaster: tm}),
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	// The engine runs until the HTTP server has stopped, so that requests
	// in flight at shutdown still reach a working engine.
	engCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(engCtx) }()
	tmDone := make(chan error, 1)
	go func() { tmDone <- tm.Run(engCtx) }()
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()

	logger.Info("loom server listening", "url", "http://"+ln.Addr().String(),
		"api", "http://"+ln.Addr().String()+server.APIPrefix, "db", o.db, "flows", strings.Join(flows, ","))

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
