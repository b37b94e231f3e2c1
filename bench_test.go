package loom_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/loomhq/loom"
)

var noop = loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) { return nil, nil })

// BenchmarkBareCall is the floor: the no-op handler called directly.
func BenchmarkBareCall(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = noop.Handle(ctx, nil)
	}
}

// BenchmarkSyncExecutorNoop runs the no-op task through a default
// SyncExecutor: run id, state, attempt loop and Result.
func BenchmarkSyncExecutorNoop(b *testing.B) {
	ex := loom.NewSyncExecutor(loom.Config{})
	task := loom.NewTask("noop", noop)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ex.Execute(ctx, task, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSyncOverhead measures both loops in one process and reports
// what the executor adds per task, absolute and as a multiple of the bare
// call.
func BenchmarkSyncOverhead(b *testing.B) {
	ex := loom.NewSyncExecutor(loom.Config{})
	task := loom.NewTask("noop", noop)
	ctx := context.Background()
	var bare, executed time.Duration
	for b.Loop() {
		start := time.Now()
		_, _ = noop.Handle(ctx, nil)
		mid := time.Now()
		if _, err := ex.Execute(ctx, task, nil); err != nil {
			b.Fatal(err)
		}
		bare += mid.Sub(start)
		executed += time.Since(mid)
	}
	n := float64(b.N)
	b.ReportMetric(float64(executed-bare)/n, "overhead-ns/task")
	b.ReportMetric(float64(executed)/float64(max(bare, 1)), "x-bare")
}

// wideFlow is one root, width independent middle steps and one sink that
// waits for all of them: width+2 steps.
func wideFlow(b *testing.B, width int) *loom.Task {
	b.Helper()
	steps := []loom.Step{{Name: "root", Task: loom.NewTask("root", noop)}}
	mid := make([]string, width)
	for i := range width {
		mid[i] = fmt.Sprintf("m%d", i)
		steps = append(steps, loom.Step{Name: mid[i], Task: loom.NewTask("mid", noop), DependsOn: []string{"root"}})
	}
	steps = append(steps, loom.Step{Name: "sink", Task: loom.NewTask("sink", noop), DependsOn: mid})
	flow, err := loom.NewFlow("wide", loom.FlowDef{Steps: steps})
	if err != nil {
		b.Fatal(err)
	}
	return flow
}

// chainFlow is n steps, each waiting for the one before.
func chainFlow(b *testing.B, n int) *loom.Task {
	b.Helper()
	steps := []loom.Step{{Name: "s0", Task: loom.NewTask("step", noop)}}
	for i := 1; i < n; i++ {
		steps = append(steps, loom.Step{Name: fmt.Sprintf("s%d", i), Task: loom.NewTask("step", noop), DependsOn: []string{fmt.Sprintf("s%d", i-1)}})
	}
	flow, err := loom.NewFlow("chain", loom.FlowDef{Steps: steps})
	if err != nil {
		b.Fatal(err)
	}
	return flow
}

// goroutinePool runs n no-op calls on a pool of workers: what a
// hand-written program would do instead of a flow.
func goroutinePool(n, workers int) {
	ctx := context.Background()
	jobs := make(chan int, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range jobs {
				_, _ = noop.Handle(ctx, nil)
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}

func BenchmarkGoroutinePool1000(b *testing.B) {
	workers := 2 * runtime.GOMAXPROCS(0)
	for b.Loop() {
		goroutinePool(1000, workers)
	}
}

func BenchmarkParallelFlowWide1000(b *testing.B) {
	ex := loom.NewParallelExecutor(loom.Config{})
	flow := wideFlow(b, 998)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ex.Execute(ctx, flow, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParallelFlowChain1000(b *testing.B) {
	ex := loom.NewParallelExecutor(loom.Config{})
	flow := chainFlow(b, 1000)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ex.Execute(ctx, flow, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSyncFlowChain1000(b *testing.B) {
	ex := loom.NewSyncExecutor(loom.Config{})
	flow := chainFlow(b, 1000)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ex.Execute(ctx, flow, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParallelFlowVsPool runs the 1,000-step wide flow and the plain
// pool in the same process and reports the flow's cost per step and its
// ratio to the pool.
func BenchmarkParallelFlowVsPool(b *testing.B) {
	ex := loom.NewParallelExecutor(loom.Config{})
	flow := wideFlow(b, 998)
	ctx := context.Background()
	workers := 2 * runtime.GOMAXPROCS(0)
	var pool, flowed time.Duration
	for b.Loop() {
		start := time.Now()
		goroutinePool(1000, workers)
		mid := time.Now()
		if _, err := ex.Execute(ctx, flow, nil); err != nil {
			b.Fatal(err)
		}
		pool += mid.Sub(start)
		flowed += time.Since(mid)
	}
	n := float64(b.N)
	b.ReportMetric(float64(flowed)/n/1000, "flow-ns/step")
	b.ReportMetric(float64(pool)/n/1000, "pool-ns/func")
	b.ReportMetric(float64(flowed)/float64(max(pool, 1)), "x-pool")
}

// spent is the wall and CPU time of one side of a comparison, summed
// over a benchmark's iterations.
type spent struct{ wall, cpu time.Duration }

// measure runs fn and adds its wall and CPU time to s. The CPU time is the
// whole process's while fn runs, so fn's own goroutines and the garbage
// collection it causes are counted, and so is anything else running: only
// one side of a comparison runs at a time.
func (s *spent) measure(fn func()) {
	cpu0, _ := cpuTime()
	start := time.Now()
	fn()
	s.wall += time.Since(start)
	cpu1, _ := cpuTime()
	s.cpu += cpu1 - cpu0
}

// reportVsPool reports a loom figure per unit beside the pool's per call
// and their ratio, in wall time and in CPU time: the library's overhead.
// On a loaded machine the wall times also count waits for a core, the
// CPU times only the work.
func reportVsPool(b *testing.B, loom, pool spent, units int, name string) {
	n := float64(b.N) * float64(units)
	b.ReportMetric(float64(loom.wall)/n, name+"-ns")
	b.ReportMetric(float64(pool.wall)/n, "pool-ns/func")
	b.ReportMetric(float64(loom.wall)/float64(max(pool.wall, 1)), "x-pool")
	if _, ok := cpuTime(); ok {
		b.ReportMetric(float64(loom.cpu)/n, name+"-cpu-ns")
		b.ReportMetric(float64(pool.cpu)/n, "pool-cpu-ns/func")
		b.ReportMetric(float64(loom.cpu)/float64(max(pool.cpu, 1)), "x-pool-cpu")
	}
}

// BenchmarkParallelExecuteVsPool calls ParallelExecutor.Execute on a no-op
// task 1,000 times from as many goroutines as the pool has workers, beside
// the pool running 1,000 no-op calls, in one process.
func BenchmarkParallelExecuteVsPool(b *testing.B) {
	ex := loom.NewParallelExecutor(loom.Config{})
	task := loom.NewTask("noop", noop)
	ctx := context.Background()
	workers := 2 * runtime.GOMAXPROCS(0)
	const n = 1000
	var pool, executed spent
	b.ReportAllocs()
	for b.Loop() {
		pool.measure(func() { goroutinePool(n, workers) })
		executed.measure(func() {
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := w; i < n; i += workers {
						if _, err := ex.Execute(ctx, task, nil); err != nil {
							b.Error(err)
						}
					}
				})
			}
			wg.Wait()
		})
	}
	reportVsPool(b, executed, pool, n, "execute")
}

// BenchmarkParallelStartWaitVsPool starts 1,000 no-op tasks on a
// ParallelExecutor and waits for them all, beside the pool.
func BenchmarkParallelStartWaitVsPool(b *testing.B) {
	ex := loom.NewParallelExecutor(loom.Config{})
	task := loom.NewTask("noop", noop)
	ctx := context.Background()
	workers := 2 * runtime.GOMAXPROCS(0)
	const n = 1000
	hs := make([]loom.Handle, n)
	var pool, started spent
	b.ReportAllocs()
	for b.Loop() {
		pool.measure(func() { goroutinePool(n, workers) })
		started.measure(func() {
			for i := range hs {
				h, err := ex.Start(ctx, task, nil)
				if err != nil {
					b.Fatal(err)
				}
				hs[i] = h
			}
			for _, h := range hs {
				if _, err := h.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	reportVsPool(b, started, pool, n, "startwait")
}

// BenchmarkFanOutVsPool runs a flow of one fan-out step over 1,000 items
// on a ParallelExecutor, beside the pool running 1,000 no-op calls.
func BenchmarkFanOutVsPool(b *testing.B) {
	ex := loom.NewParallelExecutor(loom.Config{})
	flow, err := loom.NewFlow("fan", loom.FlowDef{Inputs: []string{"items"}, Steps: []loom.Step{{
		Name: "each", Task: loom.NewTask("item", noop), FanOut: &loom.FanOut{Over: "items"},
	}}})
	if err != nil {
		b.Fatal(err)
	}
	const n = 1000
	items := make([]any, n)
	for i := range items {
		items[i] = i
	}
	in := loom.Values{"items": items}
	ctx := context.Background()
	workers := 2 * runtime.GOMAXPROCS(0)
	var pool, fanned spent
	b.ReportAllocs()
	for b.Loop() {
		pool.measure(func() { goroutinePool(n, workers) })
		fanned.measure(func() {
			if _, err := ex.Execute(ctx, flow, in); err != nil {
				b.Fatal(err)
			}
		})
	}
	reportVsPool(b, fanned, pool, n, "item")
}

// BenchmarkTaskRun is Task.Run of a no-op: the quickest way to run one
// task. Beside ns/op it reports the CPU time per run, which a loaded
// machine does not inflate.
func BenchmarkTaskRun(b *testing.B) {
	task := loom.NewTask("noop", noop)
	ctx := context.Background()
	b.ReportAllocs()
	cpu0, ok := cpuTime()
	for b.Loop() {
		if _, err := task.Run(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
	if cpu1, _ := cpuTime(); ok {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
}
