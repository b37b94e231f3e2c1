package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/postgres"
	"github.com/loomhq/loom/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testURL is the database the tests use, from LOOM_TEST_POSTGRES_URL;
// a test skips when it is unset.
func testURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("LOOM_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("LOOM_TEST_POSTGRES_URL is not set")
	}
	return url
}

// newSchema returns a fresh schema name, dropped with everything in it
// when t ends.
func newSchema(t *testing.T) string {
	t.Helper()
	url := testURL(t)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "loomtest_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
		require.NoError(t, err)
	})
	return schema
}

// setup opens a Store in a fresh schema, closed and dropped when t ends.
func setup(t *testing.T) (*postgres.Store, postgres.Config) {
	t.Helper()
	cfg := postgres.Config{URL: testURL(t), Schema: newSchema(t), MaxConns: 4}
	s, err := postgres.Open(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s, cfg
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := setup(t)
		return s
	})
}

func TestTaskmasterConformance(t *testing.T) {
	t.Parallel()
	storetest.RunTaskmaster(t, func(t *testing.T) store.TaskmasterStore {
		s, _ := setup(t)
		return s
	})
}

func TestTokenConformance(t *testing.T) {
	t.Parallel()
	storetest.RunTokens(t, func(t *testing.T) store.TokenStore {
		s, _ := setup(t)
		return s
	})
}
