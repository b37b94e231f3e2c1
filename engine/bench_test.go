package engine_test

import (
	"context"
	"testing"

	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
)

func benchStore(ctx context.Context, path string) (store.Store, error) {
	return openBenchStore(ctx, path)
}

// BenchmarkEngineThroughput inserts no-op tasks in batches of 1,000 into a
// SQLite store in a temporary directory, works them all down (claim, run,
// record), and compares with the raw SQLite rate measured in the same run:
// River's "river bench -n 200000".
func BenchmarkEngineThroughput(b *testing.B) {
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	for b.Loop() {
		res, err := engine.Bench(context.Background(), engine.BenchConfig{Dir: b.TempDir(), NewStore: benchStore, Tasks: n})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.InsertPerSec, "inserted/s")
		b.ReportMetric(res.WorkPerSec, "worked/s")
		b.ReportMetric(res.RawSQLitePerSec, "raw-sqlite/s")
		b.ReportMetric(res.Ratio, "ratio")
	}
}

// BenchmarkSubmitToStartLatency submits 1,000 tasks at 100/s to an idle
// engine on SQLite and reports submit-to-handler-start latency.
func BenchmarkSubmitToStartLatency(b *testing.B) {
	samples := 1000
	if testing.Short() {
		samples = 100
	}
	for b.Loop() {
		res, err := engine.Bench(context.Background(), engine.BenchConfig{
			Dir: b.TempDir(), NewStore: benchStore, Tasks: 1, LatencySamples: samples, SkipRaw: true,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(res.LatencyP50.Microseconds()), "p50-µs")
		b.ReportMetric(float64(res.LatencyP99.Microseconds()), "p99-µs")
	}
}
