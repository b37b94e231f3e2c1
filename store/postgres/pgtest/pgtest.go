// Package pgtest gives tests a PostgreSQL schema of their own on the
// database LOOM_TEST_POSTGRES_URL names, dropped when the test ends; a
// test that asks for one skips when the variable is unset.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/loomhq/loom/store/postgres"
)

// EnvURL is the environment variable naming the test database.
const EnvURL = "LOOM_TEST_POSTGRES_URL"

// URL returns the test database's URL, or skips t when EnvURL is unset.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(EnvURL)
	if url == "" {
		t.Skip(EnvURL + " is not set")
	}
	return url
}

// Schema returns the name of a schema of t's own, not yet created, that
// is dropped with everything in it when t ends.
func Schema(t testing.TB) string {
	t.Helper()
	url := URL(t)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "loomtest_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// Open opens a Store in a schema of t's own, closed and dropped when t
// ends, and returns it with the Config that opens it again (as another
// process would).
func Open(t testing.TB) (*postgres.Store, postgres.Config) {
	t.Helper()
	cfg := postgres.Config{URL: URL(t), Schema: Schema(t), MaxConns: 4}
	s, err := postgres.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, cfg
}
