package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
	"github.com/spf13/cobra"
)

func (m *Main) newBenchCommand() *cobra.Command {
	var (
		cfg    engine.BenchConfig
		db     string
		busURL string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the engine on a fresh SQLite or PostgreSQL database",
		Long: `Measure the engine on a fresh SQLite database in a temporary directory
(or, with --db postgres://..., in a fresh schema of that database, dropped
afterwards): how fast it inserts and works down no-op tasks, the raw SQLite
rate of the same machine for comparison (SQLite only), and submit-to-start
latency on an idle engine. With --bus the engine's tasks travel over that
bus (a stream, subject or key prefix of the run's own, removed afterwards)
instead of in-process.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := os.MkdirTemp("", "loom-bench-")
			if err != nil {
				return fmt.Errorf("bench directory: %w", err)
			}
			defer os.RemoveAll(dir)
			cfg.Dir = dir
			cfg.NewStore = openBenchStore
			if isPostgresURL(db) {
				schema := benchSchema()
				defer func() {
					if err := dropSchema(context.WithoutCancel(cmd.Context()), db, schema); err != nil {
						fmt.Fprintf(m.Stderr, "bench: %v\n", err)
					}
				}()
				cfg.SkipRaw = true
				cfg.NewStore = func(ctx context.Context, _ string) (store.Store, error) {
					return dbOptions{db: db, schema: schema}.open(ctx)
				}
			} else if db != "" {
				return &usageError{errors.New("--db of bench takes a postgres:// URL; SQLite runs in a temporary directory")}
			}
			if busURL != "" {
				b, err := openBenchBus(cmd.Context(), busURL, dir)
				if err != nil {
					return err
				}
				defer b.Close()
				cfg.Bus = b
			}
			fmt.Fprintf(m.Stderr, "benchmarking %d tasks...\n", cfg.Tasks)
			res, err := engine.Bench(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "tasks\t%d\n", res.Tasks)
			fmt.Fprintf(tw, "inserted/s\t%.0f\t(%s)\n", res.InsertPerSec, res.InsertTime.Round(1e6))
			fmt.Fprintf(tw, "worked/s\t%.0f\t(%s)\n", res.WorkPerSec, res.WorkTime.Round(1e6))
			if res.RawSQLitePerSec > 0 {
				fmt.Fprintf(tw, "raw SQLite/s\t%.0f\n", res.RawSQLitePerSec)
				fmt.Fprintf(tw, "ratio\t%.2f\n", res.Ratio)
			}
			if cfg.LatencySamples > 0 {
				fmt.Fprintf(tw, "latency p50\t%s\n", res.LatencyP50.Round(1e3))
				fmt.Fprintf(tw, "latency p99\t%s\n", res.LatencyP99.Round(1e3))
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.IntVarP(&cfg.Tasks, "tasks", "n", 200_000, "no-op tasks to insert and work down")
	f.IntVar(&cfg.Workers, "workers", 0, "embedded workers (default the engine's)")
	f.IntVar(&cfg.LatencySamples, "latency-samples", 500, "paced submits that measure latency; 0 skips")
	f.IntVar(&cfg.LatencyRate, "latency-rate", 100, "pace of the latency submits per second")
	f.BoolVar(&cfg.SkipRaw, "skip-raw", false, "skip measuring the raw SQLite rate")
	f.StringVar(&db, "db", "", "measure on this PostgreSQL database (postgres:// URL), in a schema of the run's own")
	f.StringVar(&busURL, "bus", "", "task bus to measure over: nats://HOST:4222, redis://HOST:6379/0 or file://DIR (default: in-process)")
	return cmd
}
