package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/postgres"
)

// A --db value names the store: a postgres:// or postgresql:// URL selects
// PostgreSQL; anything else is a SQLite file, optionally written
// sqlite:PATH.

// isPostgresURL reports whether db selects the PostgreSQL store.
func isPostgresURL(db string) bool {
	lower := strings.ToLower(db)
	return strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://")
}

// sqlitePath is the file a SQLite --db value names.
func sqlitePath(db string) string {
	return strings.TrimPrefix(db, "sqlite:")
}

// dbOptions are the flags that choose and tune the store.
type dbOptions struct {
	// db is the --db value.
	db string
	// schema is --db-schema: PostgreSQL's schema, "" for the URL's.
	schema string
	// sync is SQLite's synchronous setting, "" for the default.
	sync string
	// key, if any, seals the trigger and notifier secrets the store keeps.
	key []byte
}

// check reports a usage error in o.
func (o dbOptions) check() error {
	if o.db == "" || o.db == "sqlite:" {
		return &usageError{errors.New("--db must name a SQLite file or a postgres:// URL")}
	}
	if o.schema != "" && !isPostgresURL(o.db) {
		return &usageError{errors.New("--db-schema applies to a postgres:// --db only")}
	}
	return nil
}

// open opens the store o names.
func (o dbOptions) open(ctx context.Context) (store.Store, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if isPostgresURL(o.db) {
		st, err := postgres.Open(ctx, postgres.Config{URL: o.db, Schema: o.schema, SecretKey: o.key})
		if err != nil {
			return nil, fmt.Errorf("open database %s: %w", redactDB(o.db), err)
		}
		return st, nil
	}
	if o.key != nil {
		return openStore(ctx, sqlitePath(o.db), o.sync, o.key)
	}
	return openStore(ctx, sqlitePath(o.db), o.sync)
}

// keyFileBase is the path whose ".key" file holds the secret key by
// default: beside a SQLite database, and loom.key in the working
// directory for PostgreSQL.
func keyFileBase(db string) string {
	if isPostgresURL(db) {
		return "loom"
	}
	return sqlitePath(db)
}

// redactDB is db fit for logs and messages: a URL's password is masked.
func redactDB(db string) string {
	if !isPostgresURL(db) {
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// benchSchema is a fresh schema name for one `loom bench` run on
// PostgreSQL.
func benchSchema() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "loom_bench_" + hex.EncodeToString(b)
}

// dropSchema drops schema, with everything in it, from the database at
// dbURL.
func dropSchema(ctx context.Context, dbURL, schema string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("drop schema %s: connect to %s: %w", schema, redactDB(dbURL), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
		return fmt.Errorf("drop schema %s: %w", schema, err)
	}
	return nil
}
