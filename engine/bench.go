package engine

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/store"
)

// BenchConfig configures Bench. Zero values mean the defaults stated.
type BenchConfig struct {
	// Dir is where the benchmark's database files go. Required (a
	// temporary directory is a good choice).
	Dir string
	// NewStore opens the store under test on a file in Dir. Required: the
	// caller picks the backend (the loom command passes store/sqlite).
	NewStore func(ctx context.Context, path string) (store.Store, error)
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
	// RawDSN is the database/sql DSN template of the raw SQLite
	// measurement, with %s for the file path; it should carry the same
	// pragmas as the store. Default RawSQLiteDSN. The "sqlite" driver must
	// be linked in (store/sqlite does); without it the raw rate is skipped.
	RawDSN string
	// SkipRaw skips measuring the raw SQLite rate.
	SkipRaw bool
	// Bus is the task bus between the engine and its workers. Default
	// in-process. The benchmark does not close it.
	Bus bus.Bus
}

// RawSQLiteDSN is the default DSN of Bench's raw SQLite measurement, with
// the pragmas store/sqlite opens its writer with: WAL, synchronous=NORMAL,
// a busy timeout, a 32 MiB page cache, temporary tables in memory and
// immediate transactions.
const RawSQLiteDSN = "file:%s?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=cache_size(-32768)&_pragma=temp_store(MEMORY)&_txlock=immediate"

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
	// the engine is measured against. Zero when skipped.
	RawSQLitePerSec float64 `json:"raw_sqlite_per_sec"`
	// Ratio is WorkPerSec / RawSQLitePerSec.
	Ratio float64 `json:"ratio"`
	// LatencyP50 and LatencyP99 are submit-to-handler-start latencies.
	LatencyP50 time.Duration `json:"latency_p50"`
	LatencyP99 time.Duration `json:"latency_p99"`
}

const benchType = "loom.bench.noop"

// Bench measures the engine on a fresh store: throughput of inserting and
// working down no-op tasks, the raw SQLite rate for comparison, and
// submit-to-start latency on an idle engine. The go benchmarks and the
// loom bench command both call it.
func Bench(ctx context.Context, cfg BenchConfig) (*BenchResult, error) {
	if cfg.Dir == "" || cfg.NewStore == nil {
		return nil, fmt.Errorf("%w: BenchConfig needs Dir and NewStore", ErrInvalid)
	}
	if cfg.Tasks <= 0 {
		cfg.Tasks = 100_000
	}
	if cfg.SubmitBatch <= 0 {
		cfg.SubmitBatch = 1000
	}
	if cfg.LatencyRate <= 0 {
		cfg.LatencyRate = 100
	}
	if cfg.RawDSN == "" {
		cfg.RawDSN = RawSQLiteDSN
	}
	st, err := cfg.NewStore(ctx, filepath.Join(cfg.Dir, "bench.db"))
	if err != nil {
		return nil, fmt.Errorf("engine: bench: open store: %w", err)
	}
	defer st.Close()

	var startedAt sync.Map // task id -> time the handler started
	latency := false
	var latencyMu sync.Mutex
	e, err := New(Config{
		Store:   st,
		Bus:     cfg.Bus,
		Workers: cfg.Workers,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handlers: map[string]loom.Handler{benchType: loom.HandlerFunc(func(ctx context.Context, _ loom.Values) (loom.Values, error) {
			latencyMu.Lock()
			on := latency
			latencyMu.Unlock()
			if on {
				a, _ := loom.Attempt(ctx)
				startedAt.Store(a.RunID, time.Now())
			}
			return nil, nil
		})},
	})
	if err != nil {
		return nil, err
	}
	res := &BenchResult{Tasks: cfg.Tasks}

	// Insert everything first, with the engine stopped.
	begin := time.Now()
	batch := make([]*SubmitParams, 0, cfg.SubmitBatch)
	for i := 0; i < cfg.Tasks; i++ {
		batch = append(batch, &SubmitParams{Type: benchType})
		if len(batch) == cfg.SubmitBatch || i == cfg.Tasks-1 {
			if _, err := e.SubmitMany(ctx, batch); err != nil {
				return nil, fmt.Errorf("engine: bench: insert: %w", err)
			}
			batch = batch[:0]
		}
	}
	res.InsertTime = time.Since(begin)
	res.InsertPerSec = float64(cfg.Tasks) / res.InsertTime.Seconds()

	// Then work them all down.
	runCtx, stop := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	begin = time.Now()
	go func() { runErr <- e.Run(runCtx) }()
	defer func() {
		stop()
		<-runErr
	}()
	for e.recorded.Load() < int64(cfg.Tasks) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case err := <-runErr:
			return nil, fmt.Errorf("engine: bench: run ended early: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	res.WorkTime = time.Since(begin)
	res.WorkPerSec = float64(cfg.Tasks) / res.WorkTime.Seconds()

	if cfg.LatencySamples > 0 {
		latencyMu.Lock()
		latency = true
		latencyMu.Unlock()
		pace := time.Second / time.Duration(cfg.LatencyRate)
		submitted := make(map[string]time.Time, cfg.LatencySamples)
		next := time.Now()
		for i := 0; i < cfg.LatencySamples; i++ {
			time.Sleep(time.Until(next))
			next = next.Add(pace)
			at := time.Now()
			info, _, err := e.Submit(ctx, &SubmitParams{Type: benchType})
			if err != nil {
				return nil, fmt.Errorf("engine: bench: latency submit: %w", err)
			}
			submitted[info.ID] = at
		}
		want := int64(cfg.Tasks + cfg.LatencySamples)
		for e.recorded.Load() < want {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
		lat := make([]time.Duration, 0, len(submitted))
		for id, at := range submitted {
			if v, ok := startedAt.Load(id); ok {
				lat = append(lat, v.(time.Time).Sub(at))
			}
		}
		slices.Sort(lat)
		if len(lat) > 0 {
			res.LatencyP50 = lat[len(lat)/2]
			res.LatencyP99 = lat[min(len(lat)-1, len(lat)*99/100)]
		}
	}

	if !cfg.SkipRaw {
		rate, err := rawSQLiteRate(ctx, fmt.Sprintf(cfg.RawDSN, filepath.Join(cfg.Dir, "raw.db")), cfg.Tasks)
		if err == nil {
			res.RawSQLitePerSec = rate
			res.Ratio = res.WorkPerSec / rate
		}
	}
	return res, nil
}

// rawSQLiteRate measures INSERT+UPDATE pairs, 100 per transaction, through
// one connection with prepared statements, on a plain table keyed by a
// text id like the tasks table: what the database can do with no engine in
// the way.
func rawSQLiteRate(ctx context.Context, dsn string, n int) (float64, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS raw (id TEXT PRIMARY KEY, status TEXT NOT NULL, payload TEXT, n INTEGER)"); err != nil {
		return 0, err
	}
	ins, err := db.PrepareContext(ctx, "INSERT INTO raw (id, status, payload, n) VALUES (?, 'pending', ?, ?)")
	if err != nil {
		return 0, err
	}
	defer ins.Close()
	upd, err := db.PrepareContext(ctx, "UPDATE raw SET status = 'completed', n = n + 1 WHERE id = ?")
	if err != nil {
		return 0, err
	}
	defer upd.Close()
	begin := time.Now()
	for i := 0; i < n; {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		txIns, txUpd := tx.StmtContext(ctx, ins), tx.StmtContext(ctx, upd)
		for j := 0; j < 100 && i < n; j, i = j+1, i+1 {
			id := fmt.Sprintf("%020d", i)
			if _, err := txIns.ExecContext(ctx, id, `{"n":1}`, i); err != nil {
				_ = tx.Rollback()
				return 0, err
			}
			if _, err := txUpd.ExecContext(ctx, id); err != nil {
				_ = tx.Rollback()
				return 0, err
			}
		}
		if err := tx.Commit(); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(begin).Seconds(), nil
}
