package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// benchTasks is how many tasks one benchmark iteration moves through the
// store, so that rates are meaningful even with -benchtime 3x.
const benchTasks = 20_000

// rawPairsPerSecond measures SQLite itself on the Store's settings: INSERT
// and UPDATE pairs, 100 pairs a transaction, through one connection.
func rawPairsPerSecond(b *testing.B, pairs int) float64 {
	b.Helper()
	ctx := context.Background()
	cfg := Config{Path: filepath.Join(b.TempDir(), "raw.db")}.withDefaults()
	db, err := sql.Open("sqlite", dsn(cfg, true))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE raw (id TEXT PRIMARY KEY, status TEXT NOT NULL, payload TEXT, n INTEGER)`); err != nil {
		b.Fatal(err)
	}
	ins, err := db.PrepareContext(ctx, `INSERT INTO raw (id, status, payload, n) VALUES (?, 'pending', ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	defer ins.Close()
	upd, err := db.PrepareContext(ctx, `UPDATE raw SET status = 'done', n = n + 1 WHERE id = ?`)
	if err != nil {
		b.Fatal(err)
	}
	defer upd.Close()
	start := time.Now()
	for i := 0; i < pairs; {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		txIns, txUpd := tx.StmtContext(ctx, ins), tx.StmtContext(ctx, upd)
		for j := 0; j < 100 && i < pairs; j, i = j+1, i+1 {
			id := fmt.Sprintf("%020d", i)
			if _, err := txIns.ExecContext(ctx, id, `{"n":1}`, i); err != nil {
				b.Fatal(err)
			}
			if _, err := txUpd.ExecContext(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	return float64(pairs) / time.Since(start).Seconds()
}

// BenchmarkRawSQLite is the ceiling the Store is measured against.
func BenchmarkRawSQLite(b *testing.B) {
	var rate float64
	for range b.N {
		rate = rawPairsPerSecond(b, benchTasks)
	}
	b.ReportMetric(rate, "pairs/s")
}

// BenchmarkInsertClaimFinish moves tasks through their whole life the way
// the engine does: InsertTasks in batches of 1000, then ClaimTasks and
// FinishTasks in batches of 500.
func BenchmarkInsertClaimFinish(b *testing.B) {
	ctx := context.Background()
	raw := rawPairsPerSecond(b, benchTasks)
	s, err := Open(ctx, Config{Path: filepath.Join(b.TempDir(), "loom.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var insertTime, cycleTime time.Duration
	total := 0
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		for i := 0; i < benchTasks; i += 1000 {
			tasks := make([]*loom.TaskInfo, 1000)
			for j := range tasks {
				tasks[j] = &loom.TaskInfo{Type: "bench", Input: loom.Values{"n": i + j}}
			}
			if _, err := s.InsertTasks(ctx, &store.InsertTasksParams{Tasks: tasks}); err != nil {
				b.Fatal(err)
			}
		}
		insertTime += time.Since(start)

		start = time.Now()
		done := 0
		for done < benchTasks {
			now := time.Now()
			claimed, err := s.ClaimTasks(ctx, &store.ClaimTasksParams{
				Queue: loom.DefaultQueue, Limit: 500, WorkerID: "bench", Now: now, LeaseUntil: now.Add(time.Minute),
			})
			if err != nil {
				b.Fatal(err)
			}
			if len(claimed) == 0 {
				b.Fatalf("claimed nothing after %d of %d", done, benchTasks)
			}
			outcomes := make([]store.Outcome, len(claimed))
			for i, t := range claimed {
				outcomes[i] = store.Outcome{ID: t.ID, Attempt: t.Attempt, Status: loom.StatusCompleted, Output: loom.Values{"ok": true}}
			}
			if _, err := s.FinishTasks(ctx, &store.FinishTasksParams{Outcomes: outcomes, Now: now}); err != nil {
				b.Fatal(err)
			}
			done += len(claimed)
		}
		cycleTime += time.Since(start)
		total += benchTasks
	}
	b.StopTimer()
	insertRate := float64(total) / insertTime.Seconds()
	cycleRate := float64(total) / cycleTime.Seconds()
	e2e := float64(total) / (insertTime + cycleTime).Seconds()
	b.ReportMetric(insertRate, "insert_tasks/s")
	b.ReportMetric(cycleRate, "claim+finish_tasks/s")
	b.ReportMetric(e2e, "e2e_tasks/s")
	b.ReportMetric(raw, "raw_pairs/s")
	b.ReportMetric(e2e/raw, "e2e/raw")
}
