package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// riverArgs is the no-op job: only the stamp.
type riverArgs struct {
	T int64 `json:"t"`
}

// Kind names the job kind.
func (riverArgs) Kind() string { return "bench_noop" }

// riverWorker works a riverArgs job by reporting its stamp.
type riverWorker struct {
	river.WorkerDefaults[riverArgs]
	p *probe
}

// Work reports the job's stamp and does nothing else.
func (w *riverWorker) Work(_ context.Context, j *river.Job[riverArgs]) error {
	w.p.worked(j.Args.T)
	return nil
}

// riverSystem is River on its own schema of the PostgreSQL database,
// configured as River's own benchmark configures it.
type riverSystem struct {
	pool   *pgxpool.Pool
	client *river.Client[pgx.Tx]
	schema string
	url    string
}

func openRiver(ctx context.Context, o options, p *probe) (system, error) {
	r := &riverSystem{schema: "river_bench_" + runID(), url: o.postgresURL}
	pool, err := pgxpool.New(ctx, o.postgresURL)
	if err != nil {
		return nil, err
	}
	r.pool = pool
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{r.schema}.Sanitize()); err != nil {
		pool.Close()
		return nil, fmt.Errorf("create schema: %w", err)
	}
	driver := riverpgxv5.New(pool)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: r.schema, Logger: logger})
	if err != nil {
		_ = r.close(ctx)
		return nil, err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		_ = r.close(ctx)
		return nil, fmt.Errorf("migrate: %w", err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &riverWorker{p: p})
	r.client, err = river.NewClient(driver, &river.Config{
		FetchCooldown:     2 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		Logger:            logger,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2000}},
		Schema:            r.schema,
		Workers:           workers,
	})
	if err != nil {
		_ = r.close(ctx)
		return nil, err
	}
	return r, nil
}

func (r *riverSystem) insert(ctx context.Context, stamps []int64) error {
	if len(stamps) == 1 {
		_, err := r.client.Insert(ctx, riverArgs{T: stamps[0]}, nil)
		return err
	}
	ps := make([]river.InsertManyParams, len(stamps))
	for i, s := range stamps {
		ps[i] = river.InsertManyParams{Args: riverArgs{T: s}}
	}
	_, err := r.client.InsertMany(ctx, ps)
	return err
}

func (r *riverSystem) start(ctx context.Context) error { return r.client.Start(ctx) }

func (r *riverSystem) ended(ctx context.Context, n int) (bool, error) {
	var c int
	err := r.pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{r.schema, "river_job"}.Sanitize()+" WHERE state = 'completed'").Scan(&c)
	return c >= n, err
}

func (r *riverSystem) close(ctx context.Context) error {
	var err error
	if r.client != nil {
		stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = r.client.Stop(stopCtx)
		cancel()
	}
	r.pool.Close()
	if derr := dropSchema(ctx, r.url, r.schema); err == nil {
		err = derr
	}
	return err
}
