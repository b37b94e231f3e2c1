package engine

import (
	"context"
	"time"
)

// BenchConfig configures Bench. Zero values mean the defaults stated.
type BenchConfig struct {
	// Dir is where the benchmark's SQLite files go. Required (a temporary
	// directory is a good choice).
	Dir string
	// Tasks is how many no-op tasks to insert and work down. Default
	// 100,000.
	Tasks int
	// SubmitBatch is how many tasks one SubmitMany call inserts. Default
	// 1,000.
	SubmitBatch int
	// Workers is the engine's embedded worker count. Default the engine's.
	Workers int
	// LatencySamples is how many paced submits measure submit-to-start
	// latency; zero skips the latency part.
	LatencySamples int
	// LatencyRate is the pace of those submits per second. Default 100.
	LatencyRate int
	// SkipRaw skips measuring the raw SQLite rate.
	SkipRaw bool
}

// BenchResult is what Bench measured.
type BenchResult struct {
	Tasks int `json:"tasks"`
	// InsertPerSec is tasks inserted per second through SubmitMany.
	InsertPerSec float64 `json:"insert_per_sec"`
	// WorkPerSec is tasks claimed, run and recorded per second.
	WorkPerSec float64 `json:"work_per_sec"`
	// InsertTime and WorkTime are the wall times of the two phases.
	InsertTime time.Duration `json:"insert_time"`
	WorkTime   time.Duration `json:"work_time"`
	// RawSQLitePerSec is the rate of INSERT+UPDATE pairs, 100 per
	// transaction, on a plain table with the same pragmas: the ceiling
	// the engine is measured against.
	RawSQLitePerSec float64 `json:"raw_sqlite_per_sec"`
	// Ratio is WorkPerSec / RawSQLitePerSec.
	Ratio float64 `json:"ratio"`
	// LatencyP50 and LatencyP99 are submit-to-handler-start latencies.
	LatencyP50 time.Duration `json:"latency_p50"`
	LatencyP99 time.Duration `json:"latency_p99"`
}

// Bench measures the engine on a fresh SQLite store: throughput of
// inserting and working down no-op tasks, the raw SQLite rate for
// comparison, and submit-to-start latency on an idle engine. The go
// benchmarks and the loom bench command both call it.
func Bench(ctx context.Context, cfg BenchConfig) (*BenchResult, error) {
	panic("not implemented")
}
