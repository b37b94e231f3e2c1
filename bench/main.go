// Command bench measures loom beside its peers on this machine, in one
// process and one run: loom embedded (SQLite), loom on PostgreSQL, loom over
// Redis and NATS, River on the same PostgreSQL and Asynq on the same Redis.
// Every system gets the same workload and its own schema, stream or key
// prefix, removed afterwards:
//
//   - batch: insert N no-op tasks, then work them all down (worked/s);
//   - continuous: insert N more in batches of 100 while working, with at most
//     a few thousand waiting (worked/s, submit-to-start p50 and p99);
//   - idle latency: submit one task at a time at 200/s to an idle system
//     (submit-to-start p50 and p99).
//
// It prints one row per system with each rate's ratio to River's. With -rss
// it instead measures the resident memory of an embedded engine holding
// 1,000,000 ended tasks while it works 1,000 more a second.
//
// Run it from this directory with `go run .` (or `make bench` at the
// repository's root). The servers come from LOOM_TEST_POSTGRES_URL,
// LOOM_TEST_REDIS_URL and LOOM_TEST_NATS_URL, defaulting to the local ones.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// options are the command line's settings.
type options struct {
	n           int
	only        map[string]bool
	latency     int
	postgresURL string
	redisURL    string
	natsURL     string
	rss         bool
	rssTasks    int
	rssSeconds  int
}

// systemNames are the rows of the table, in order; -only picks among them.
var systemNames = []string{"loom-sqlite", "loom-postgres", "loom-redis", "loom-nats", "river", "asynq"}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var o options
	var only string
	flag.IntVar(&o.n, "n", 100_000, "tasks per phase (batch and continuous)")
	flag.StringVar(&only, "only", "", "comma-separated systems to run (default all): "+strings.Join(systemNames, ","))
	flag.IntVar(&o.latency, "latency", 400, "idle-latency samples, submitted at 200/s; 0 skips")
	flag.BoolVar(&o.rss, "rss", false, "measure the memory of an embedded engine holding many ended tasks instead")
	flag.IntVar(&o.rssTasks, "rss-tasks", 1_000_000, "ended tasks the engine holds for -rss")
	flag.IntVar(&o.rssSeconds, "rss-seconds", 20, "seconds of working 1,000 tasks/s for -rss")
	flag.Parse()
	o.postgresURL = env("LOOM_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	o.redisURL = env("LOOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
	o.natsURL = env("LOOM_TEST_NATS_URL", "nats://127.0.0.1:4222")
	if only != "" {
		o.only = map[string]bool{}
		for _, s := range strings.Split(only, ",") {
			s = strings.TrimSpace(s)
			if !known(s) {
				return fmt.Errorf("-only: unknown system %q; known: %s", s, strings.Join(systemNames, ","))
			}
			o.only[s] = true
		}
	}
	if o.n < 1 {
		return fmt.Errorf("-n must be at least 1, not %d", o.n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.rss {
		return measureRSS(ctx, os.Stdout, o.rssTasks, o.rssSeconds)
	}
	rows, err := runAll(ctx, o, os.Stderr)
	printTable(os.Stdout, rows, o.n)
	return err
}

func known(s string) bool {
	for _, n := range systemNames {
		if n == s {
			return true
		}
	}
	return false
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
