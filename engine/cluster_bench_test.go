package engine_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store/postgres"
	"github.com/loomhq/loom/store/postgres/pgtest"
)

// BenchmarkSubmitToStartAcrossServers measures, on PostgreSQL, how long a
// task submitted through one server takes to start on another server's
// worker: the submitter runs no worker, so every task crosses over, woken
// by the database's announcement. Tasks go one at a time, each submitted
// once the previous one started; p50-ms and p99-ms are the latencies from
// the submit call to the handler's start.
//
//	go test -run '^$' -bench SubmitToStartAcrossServers -benchtime 1000x ./engine/
func BenchmarkSubmitToStartAcrossServers(b *testing.B) {
	st, cfg := pgtest.Open(b)
	other, err := postgres.Open(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = other.Close() })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	started := make(chan time.Time, 1)
	job := loom.NewTask("job", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
		started <- time.Now()
		return nil, nil
	}))
	runner, err := engine.New(engine.Config{Store: st, Logger: quiet, Workers: 8})
	if err != nil {
		b.Fatal(err)
	}
	submitter, err := engine.New(engine.Config{Store: other, Logger: quiet, Workers: -1})
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range []*engine.Engine{runner, submitter} {
		if err := e.Register(job); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
		_ = runner.Close()
		_ = submitter.Close()
	})
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, _, err := submitter.Submit(ctx, &engine.SubmitParams{Type: "job"}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-started).Sub(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
