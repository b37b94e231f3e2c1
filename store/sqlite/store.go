package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/loomhq/loom/internal/secretbox"
	"github.com/loomhq/loom/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

var _ store.Store = (*Store)(nil)

// Store is the SQLite implementation of store.Store. It is safe for
// concurrent use; see the package documentation for how it shares the
// file between its writer and its readers.
type Store struct {
	cfg Config
	// w is the writer pool: one connection, every transaction IMMEDIATE.
	w *sql.DB
	// r is the reader pool, read-only connections.
	r *sql.DB

	wStmts stmtCache
	rStmts stmtCache

	// box seals trigger and notifier secrets; nil without a SecretKey.
	box *secretbox.Box
}

// Open opens (creating when missing) the database at cfg.Path, brings its
// schema up to date, and returns a Store ready for use. Close it when done.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w: %w", store.ErrInvalid, err)
	}
	w, err := sql.Open("sqlite", dsn(cfg, true))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", cfg.Path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", cfg.Path, err)
	}
	r, err := sql.Open("sqlite", dsn(cfg, false))
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", cfg.Path, err)
	}
	r.SetMaxOpenConns(cfg.MaxOpenConns)
	r.SetMaxIdleConns(cfg.MaxOpenConns)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	s := &Store{cfg: cfg, w: w, r: r, wStmts: stmtCache{db: w}, rStmts: stmtCache{db: r}}
	if err := s.wStmts.prepare(ctx, writerQueries...); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", cfg.Path, err)
	}
	if err := s.rStmts.prepare(ctx, readerQueries...); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", cfg.Path, err)
	}
	if cfg.SecretKey != nil {
		if s.box, err = secretbox.New(cfg.SecretKey); err == nil {
			err = s.sealStoredSecrets(ctx)
		}
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("open sqlite store %s: %w", cfg.Path, err)
		}
	}
	return s, nil
}

// Close releases both connection pools. The WAL is checkpointed by SQLite
// when the last connection closes.
func (s *Store) Close() error {
	s.rStmts.close()
	s.wStmts.close()
	return errors.Join(s.r.Close(), s.w.Close())
}

// dsn is the driver's connection string: every connection gets the same
// pragmas; the writer begins IMMEDIATE transactions, the readers are
// read-only.
func dsn(cfg Config, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+cfg.Synchronous+")")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", cfg.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "cache_size(-32768)")
	q.Add("_pragma", "temp_store(MEMORY)")
	if writer {
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + cfg.Path + "?" + q.Encode()
}

// migrate applies the embedded migrations that db has not seen yet.
func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// writerQueries are prepared on the writer when a Store opens: the
// statements of the hot paths, run inside write transactions.
var writerQueries = slices.Concat(
	insertTasks.all(), insertEvents.all(), insertAlikeEvents.all(), finishBatch.all(), finishBriefBatch.all(),
	[]string{getTaskSQL, findByKeySQL, findByStepSQL, claimSQL, claimBriefSQL, queueSettingsSQL, countRunningSQL,
		extendLeaseSQL, markStartedSQL, taskStatusSQL, insertLogSQL, upsertCountSQL},
)

// readerQueries are prepared on the reader pool when a Store opens.
var readerQueries = []string{getTaskSQL, listChildrenSQL}

// write runs fn in one IMMEDIATE transaction on the writer connection.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// read runs fn in one read transaction, so that what it reads is one
// consistent snapshot.
func (s *Store) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

// wstmt returns query prepared on the writer connection, bound to tx.
func (s *Store) wstmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	return s.wStmts.get(ctx, tx, query)
}

// rstmt returns query prepared on the reader pool, bound to tx when tx is
// not nil.
func (s *Store) rstmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	return s.rStmts.get(ctx, tx, query)
}

// stmtCache prepares each query once per pool; database/sql then keeps
// one prepared statement per connection.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// get returns query prepared, bound to tx when tx is not nil. A query
// first seen inside a transaction is prepared on the transaction's
// connection only: preparing it on the pool could wait for the very
// connection the transaction holds. Open prepares the frequent queries.
func (c *stmtCache) get(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.m[query]
	c.mu.Unlock()
	if ok {
		if tx != nil {
			return tx.StmtContext(ctx, st), nil
		}
		return st, nil
	}
	if tx != nil {
		st, err := tx.PrepareContext(ctx, query)
		if err != nil {
			return nil, fmt.Errorf("prepare: %w", err)
		}
		return st, nil
	}
	if err := c.prepare(ctx, query); err != nil {
		return nil, err
	}
	return c.get(ctx, nil, query)
}

// prepare adds queries to the cache. Call it with no transaction open.
func (c *stmtCache) prepare(ctx context.Context, queries ...string) error {
	for _, q := range queries {
		st, err := c.db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		c.mu.Lock()
		if c.m == nil {
			c.m = make(map[string]*sql.Stmt)
		}
		if old, ok := c.m[q]; ok {
			_ = old.Close()
		}
		c.m[q] = st
		c.mu.Unlock()
	}
	return nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		_ = st.Close()
	}
	c.m = nil
}

// isConstraint reports whether err is a constraint violation of the given
// extended code (or of any kind when code is zero).
func isConstraint(err error, code int) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	if code == 0 {
		return se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
	}
	return se.Code() == code
}

// now returns t, or the current time when t is zero.
func now(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}
