package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
)

// linearFlow builds a flow of n no-op steps, each waiting for the one
// before it through a key it requires.
func linearFlow(b *testing.B, n int) *loom.Task {
	b.Helper()
	step := loom.NewTask("link", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
		return loom.Values{"out": 1}, nil
	}))
	steps := make([]loom.Step, n)
	for i := range steps {
		steps[i] = loom.Step{Name: fmt.Sprintf("s%05d", i), Task: step, Provides: map[string]string{"out": fmt.Sprintf("k%05d", i)}}
		if i > 0 {
			steps[i].Requires = map[string]string{"in": fmt.Sprintf("k%05d", i-1)}
		}
	}
	f, err := loom.NewFlow(fmt.Sprintf("linear%d", n), loom.FlowDef{Steps: steps})
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkLinearFlow runs one durable linear flow of 10, 1,000 and
// 10,000 steps on SQLite per iteration and reports the time and
// allocations per step: advancing a flow costs what changed, so both stay
// flat as the flow grows.
func BenchmarkLinearFlow(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("steps=%d", n), func(b *testing.B) {
			if testing.Short() && n > 1000 {
				b.Skip("10,000 steps in -short mode")
			}
			ctx := context.Background()
			st, err := openBenchStore(ctx, filepath.Join(b.TempDir(), "loom.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			e, err := engine.New(engine.Config{Store: st, Workers: 4, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			flow := linearFlow(b, n)
			if err := e.Register(flow); err != nil {
				b.Fatal(err)
			}
			rctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- e.Run(rctx) }()
			defer func() { stop(); <-done }()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			cpu0 := cpuTime()
			b.ResetTimer()
			for b.Loop() {
				t, _, err := e.Submit(ctx, &engine.SubmitParams{Type: flow.Name})
				if err != nil {
					b.Fatal(err)
				}
				got, err := e.Wait(ctx, t.ID)
				if err != nil {
					b.Fatal(err)
				}
				if got.Status != loom.StatusCompleted {
					b.Fatalf("flow %s: %s", got.Status, got.Msg)
				}
			}
			b.StopTimer()
			cpu := cpuTime() - cpu0
			runtime.ReadMemStats(&after)
			steps := float64(b.N * n)
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/steps, "ms/step")
			b.ReportMetric(float64(cpu.Microseconds())/1000/steps, "cpu-ms/step")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/steps, "allocs/step")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/steps, "B/step")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// cpuTime is the CPU time the process has used, user and system: what a
// step costs however loaded the machine is.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFanOut runs one durable fan-out of 10,000 no-op items on
// SQLite per iteration, each item a task of its own, and reports the time
// per item.
func BenchmarkFanOut(b *testing.B) {
	n := 10_000
	if testing.Short() {
		n = 1000
	}
	ctx := context.Background()
	st, err := openBenchStore(ctx, filepath.Join(b.TempDir(), "loom.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e, err := engine.New(engine.Config{Store: st, Workers: 16, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	item := loom.NewTask("bench-item", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
		return loom.Values{"v": in["item"]}, nil
	}))
	flow := fanFlow(b, "bench-fan", item, loom.FanOut{Parallelism: 64})
	if err := e.Register(flow); err != nil {
		b.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(rctx) }()
	defer func() { stop(); <-done }()
	b.ResetTimer()
	for b.Loop() {
		t, _, err := e.Submit(ctx, &engine.SubmitParams{Type: flow.Name, Input: loom.Values{"items": itemList(n), "prefix": ""}})
		if err != nil {
			b.Fatal(err)
		}
		got, err := e.Wait(ctx, t.ID)
		if err != nil {
			b.Fatal(err)
		}
		if got.Status != loom.StatusCompleted || len(got.Output["results"].([]any)) != n {
			b.Fatalf("fan-out %s: %s", got.Status, got.Msg)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*n), "ms/item")
}
