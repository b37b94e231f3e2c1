package main

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestRunAllSmall runs every system whose server is configured on a few
// tasks: the whole workload runs and each system cleans up after itself.
func TestRunAllSmall(t *testing.T) {
	o := options{n: 300, latency: 5, only: map[string]bool{"loom-sqlite": true}}
	o.postgresURL = os.Getenv("LOOM_TEST_POSTGRES_URL")
	o.redisURL = os.Getenv("LOOM_TEST_REDIS_URL")
	o.natsURL = os.Getenv("LOOM_TEST_NATS_URL")
	if o.postgresURL != "" {
		o.only["loom-postgres"], o.only["river"] = true, true
	}
	if o.redisURL != "" {
		o.only["loom-redis"], o.only["asynq"] = true, true
	}
	if o.natsURL != "" {
		o.only["loom-nats"] = true
	}
	var log strings.Builder
	rows, err := runAll(context.Background(), o, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if len(rows) != len(o.only) {
		t.Fatalf("%d rows for %d systems", len(rows), len(o.only))
	}
	for _, r := range rows {
		if r.batchPerSec <= 0 || r.contPerSec <= 0 || r.idleP50 <= 0 {
			t.Errorf("%s: nothing measured: %+v", r.name, r)
		}
	}
	var out strings.Builder
	printTable(&out, rows, o.n)
	if o.only["river"] && !strings.Contains(out.String(), "1.00") {
		t.Errorf("table without ratios to River:\n%s", out.String())
	}
}
