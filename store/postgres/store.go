package postgres

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/loomhq/loom/internal/secretbox"
	"github.com/loomhq/loom/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

var (
	_ store.Store           = (*Store)(nil)
	_ store.TaskmasterStore = (*Store)(nil)
	_ store.TokenStore      = (*Store)(nil)
	_ store.StatsStore      = (*Store)(nil)
	_ store.WorkListener    = (*Store)(nil)
)

// Store is the PostgreSQL implementation of store.Store. It is safe for
// concurrent use, and several Stores (in one process or many) may share a
// schema.
type Store struct {
	pool *pgxpool.Pool
	// cluster is the one connection of the ClusterStore methods.
	cluster *pgxpool.Pool
	schema  string
	// channel is the LISTEN/NOTIFY channel announcing work in this schema.
	channel string
	logger  *slog.Logger
	// box seals trigger and notifier secrets; nil without a SecretKey.
	box *secretbox.Box
}

// Open connects to the database at cfg.URL, creates the schema when
// missing, brings it up to date, and returns a Store ready for use. Close
// it when done.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("open postgres store: %w: %w", store.ErrInvalid, err)
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// The error may quote the URL, password and all: say only what
		// kind of problem it is.
		return nil, fmt.Errorf("open postgres store: %w: the URL does not parse as a PostgreSQL connection string", store.ErrInvalid)
	}
	schema := cfg.Schema
	if schema == "" {
		schema = schemaFrom(pc.ConnConfig.RuntimeParams["search_path"])
	}
	if schema == "" {
		schema = "public"
	}
	pc.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pc.MaxConns = max(pc.MaxConns, 2)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	// The servers' heartbeats and the leader's lease go through a
	// connection of their own, so that a pool busy with tasks does not
	// make a leader miss its renewal. It connects on first use.
	cc := pc.Copy()
	cc.MaxConns, cc.MinConns = 1, 0
	clusterPool, err := pgxpool.NewWithConfig(ctx, cc)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	s := &Store{pool: pool, cluster: clusterPool, schema: schema, channel: workChannel(schema), logger: cfg.Logger}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		clusterPool.Close()
		return nil, fmt.Errorf("open postgres store in schema %s: %w", schema, err)
	}
	if cfg.SecretKey != nil {
		if s.box, err = secretbox.New(cfg.SecretKey); err == nil {
			err = s.sealStoredSecrets(ctx)
		}
		if err != nil {
			pool.Close()
			clusterPool.Close()
			return nil, fmt.Errorf("open postgres store in schema %s: %w", schema, err)
		}
	}
	return s, nil
}

// workChannel is the LISTEN/NOTIFY channel announcing work in schema. A
// channel name is an identifier, at most 63 bytes: a long schema name is
// replaced by its hash.
func workChannel(schema string) string {
	ch := "loom_work:" + schema
	if len(ch) > 63 {
		sum := sha256.Sum256([]byte(schema))
		ch = "loom_work:" + hex.EncodeToString(sum[:16])
	}
	return ch
}

// Close releases the connection pools.
func (s *Store) Close() error {
	s.pool.Close()
	s.cluster.Close()
	return nil
}

// db is the pool for single statements, its errors mapped by mapErr.
func (s *Store) db() db { return db{s.pool} }

// Schema is the schema the Store keeps its tables in.
func (s *Store) Schema() string { return s.schema }

// migrate creates the schema when missing and applies the embedded
// migrations it has not seen yet, holding a session advisory lock of the
// schema meanwhile so that Stores opening together take turns.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	key := "loom migrate " + s.schema
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, key); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		// The lock is the session's: release it before the connection
		// goes back to the pool, even when ctx is done.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key); err != nil {
			_ = conn.Conn().Close(uctx)
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.schema}.Sanitize()); err != nil {
		return fmt.Errorf("migrate: create schema: %w", err)
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// maxTries bounds how often write runs a transaction that lost a deadlock
// or a serialization conflict.
const maxTries = 5

// write runs fn in one read-committed transaction and commits it. A
// transaction the database aborted to break a deadlock runs again: fn
// must not keep state across tries other than what it recomputes.
func (s *Store) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	var err error
	for try := range maxTries {
		if err = s.tx(ctx, pgx.TxOptions{}, fn); err == nil || !retryable(err) || try == maxTries-1 {
			break
		}
	}
	return err
}

// read runs fn in one repeatable-read, read-only transaction, so that what
// it reads is one consistent snapshot.
func (s *Store) read(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.tx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

func (s *Store) tx(ctx context.Context, opts pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return mapErr(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", mapErr(err))
	}
	return nil
}

// retryable reports whether err aborted a transaction that may succeed
// when run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// PostgreSQL error codes the Store maps to the store's errors.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
)

// isCode reports whether err is a PostgreSQL error of that code.
func isCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

// lockKey takes a transaction-scoped advisory lock of key in this schema:
// transactions that take the same key run one after the other.
func (s *Store) lockKey(ctx context.Context, tx pgx.Tx, key string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, s.schema+" "+key); err != nil {
		return fmt.Errorf("lock %s: %w", key, err)
	}
	return nil
}

// now returns t, or the current time when t is zero.
func now(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}
