package main

import (
	"context"
	"errors"
	"fmt"

	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/loomhq/loom/metrics"
	"github.com/loomhq/loom/telemetry"
	"github.com/spf13/cobra"
)

// telemetryOptions are the flags of `loom server` and `loom worker` about
// logs and metrics; traces are configured by the OTEL_* variables.
type telemetryOptions struct {
	logFormat     string
	metricsListen string
}

func (o *telemetryOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.logFormat, "log-format", telemetry.LogFormatText, "log lines as text or json")
	f.StringVar(&o.metricsListen, "metrics-listen", "", "also serve GET /metrics, without a token, on this address (such as 127.0.0.1:9464)")
}

// telemetryRun is what a server or worker process reports through: its
// logger, its metrics, and the shutdown of its tracing.
type telemetryRun struct {
	logger  *slog.Logger
	metrics *metrics.Metrics
}

// start makes the logger, the metrics (with loom_build_info) and, when the
// OTEL_* variables ask for it, the OTLP trace exporter, whose flush runs
// when m closes.
func (o telemetryOptions) start(ctx context.Context, m *Main, service string) (*telemetryRun, error) {
	logger, err := telemetry.NewLogger(m.Stderr, o.logFormat)
	if err != nil {
		return nil, &usageError{fmt.Errorf("--log-format: %w", err)}
	}
	shutdown, on, err := telemetry.SetupTracing(ctx, m.Getenv, service)
	if err != nil {
		return nil, err
	}
	if on {
		logger.Info("exporting traces by OTLP", "endpoint", firstNonEmpty(m.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), m.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")))
		m.onClose(func() error {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return shutdown(sctx)
		})
	}
	met := metrics.New()
	v := currentVersion()
	met.SetBuildInfo(v.Version, v.Commit, v.Go)
	return &telemetryRun{logger: logger, metrics: met}, nil
}

// serveMetrics serves the metrics on --metrics-listen until ctx is done,
// without authentication: the address is the operator's choice, and a
// warning says so when other machines can reach it.
func (o telemetryOptions) serveMetrics(ctx context.Context, run *telemetryRun) (stop func() error, err error) {
	if o.metricsListen == "" {
		return func() error { return nil }, nil
	}
	ln, err := net.Listen("tcp", o.metricsListen)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen %s: %w", o.metricsListen, err)
	}
	if !loopback(ln) {
		run.logger.Warn("--metrics-listen: metrics are served without authentication to whoever reaches the address", "addr", ln.Addr().String())
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", run.metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(run.logger.Handler(), slog.LevelWarn)}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	run.logger.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		err := srv.Shutdown(sctx)
		if serr := <-done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		return err
	}, nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
