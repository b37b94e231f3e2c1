package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/loomhq/loom"
	"github.com/loomhq/loom/bus"
	busnats "github.com/loomhq/loom/bus/nats"
	busredis "github.com/loomhq/loom/bus/redis"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/postgres"
	"github.com/loomhq/loom/store/sqlite"
)

const loomType = "bench.noop"

// loomSystem is a loom engine with its embedded workers, on some store and
// bus.
type loomSystem struct {
	e       *engine.Engine
	st      store.Store
	b       bus.Bus
	stop    context.CancelFunc
	done    chan error
	cleanup []func(context.Context) error
}

// runID names what one run creates on a shared server.
func runID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func openLoomSQLite(ctx context.Context, _ options, p *probe) (system, error) {
	dir, err := os.MkdirTemp("", "loom-bench-")
	if err != nil {
		return nil, err
	}
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "loom.db")})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return newLoom(st, nil, 0, p, func(context.Context) error { return os.RemoveAll(dir) })
}

func openLoomPostgres(ctx context.Context, o options, p *probe) (system, error) {
	schema := "loom_bench_" + runID()
	drop := func(ctx context.Context) error { return dropSchema(ctx, o.postgresURL, schema) }
	st, err := postgres.Open(ctx, postgres.Config{URL: o.postgresURL, Schema: schema})
	if err != nil {
		_ = drop(ctx)
		return nil, err
	}
	return newLoom(st, nil, 0, p, drop)
}

// openLoomRedis and openLoomNATS keep state in SQLite, as an embedded
// server does, and carry tasks to the workers over the network bus.
func openLoomRedis(ctx context.Context, o options, p *probe) (system, error) {
	b, err := busredis.New(ctx, busredis.Config{URL: o.redisURL, Prefix: "loom:bench:" + runID() + ":"})
	if err != nil {
		return nil, err
	}
	return openLoomOverBus(ctx, b, b.DeleteKeys, p)
}

func openLoomNATS(ctx context.Context, o options, p *probe) (system, error) {
	id := runID()
	b, err := busnats.New(ctx, busnats.Config{URL: o.natsURL, Stream: "LOOM_BENCH_" + id, Subject: "loombench" + id})
	if err != nil {
		return nil, err
	}
	return openLoomOverBus(ctx, b, b.DeleteStream, p)
}

func openLoomOverBus(ctx context.Context, b bus.Bus, remove func(context.Context) error, p *probe) (system, error) {
	cleanup := func(ctx context.Context) error {
		err := remove(ctx)
		if cerr := b.Close(); err == nil {
			err = cerr
		}
		return err
	}
	dir, err := os.MkdirTemp("", "loom-bench-")
	if err != nil {
		_ = cleanup(ctx)
		return nil, err
	}
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "loom.db")})
	if err != nil {
		_ = cleanup(ctx)
		os.RemoveAll(dir)
		return nil, err
	}
	return newLoom(st, b, busWorkers, p, cleanup, func(context.Context) error { return os.RemoveAll(dir) })
}

// busWorkers is the embedded worker count over a network bus, where each
// task costs a worker round trips to the server: Asynq's concurrency here.
const busWorkers = asynqConcurrency

// newLoom makes the engine; workers 0 means the engine's default.
func newLoom(st store.Store, b bus.Bus, workers int, p *probe, cleanup ...func(context.Context) error) (*loomSystem, error) {
	l := &loomSystem{st: st, b: b, cleanup: cleanup}
	e, err := engine.New(engine.Config{
		Store:   st,
		Bus:     b,
		Workers: workers,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handlers: map[string]loom.Handler{loomType: loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
			p.worked(stampOf(in["t"]))
			return nil, nil
		})},
	})
	if err != nil {
		_ = l.close(context.Background())
		return nil, err
	}
	l.e = e
	return l, nil
}

// stampOf reads a stamp as the input carries it.
func stampOf(v any) int64 {
	switch v := v.(type) {
	case float64:
		return int64(v)
	case int64:
		return v
	case int:
		return int64(v)
	case json.Number:
		n, _ := v.Int64()
		return n
	}
	return 0
}

func (l *loomSystem) insert(ctx context.Context, stamps []int64) error {
	if len(stamps) == 1 {
		_, _, err := l.e.Submit(ctx, &engine.SubmitParams{Type: loomType, Input: loom.Values{"t": stamps[0]}})
		return err
	}
	ps := make([]*engine.SubmitParams, len(stamps))
	for i, s := range stamps {
		ps[i] = &engine.SubmitParams{Type: loomType, Input: loom.Values{"t": s}}
	}
	_, err := l.e.SubmitMany(ctx, ps)
	return err
}

func (l *loomSystem) start(ctx context.Context) error {
	ctx, l.stop = context.WithCancel(ctx)
	l.done = make(chan error, 1)
	go func() { l.done <- l.e.Run(ctx) }()
	return nil
}

func (l *loomSystem) ended(ctx context.Context, n int) (bool, error) {
	qs, err := l.e.Queues(ctx)
	if err != nil {
		return false, err
	}
	completed := 0
	for _, q := range qs {
		completed += q.Completed
	}
	return completed >= n, nil
}

func (l *loomSystem) close(ctx context.Context) error {
	var err error
	if l.stop != nil {
		l.stop()
		err = <-l.done
	}
	if l.e != nil {
		if cerr := l.e.Close(); err == nil {
			err = cerr
		}
	}
	if cerr := l.st.Close(); err == nil {
		err = cerr
	}
	for _, c := range l.cleanup {
		if cerr := c(ctx); err == nil {
			err = cerr
		}
	}
	return err
}

// dropSchema drops schema and everything in it.
func dropSchema(ctx context.Context, url, schema string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("drop schema %s: %w", schema, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		return fmt.Errorf("drop schema %s: %w", schema, err)
	}
	return nil
}
