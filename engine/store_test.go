package engine_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/sqlite"
)

// newStore returns a fresh SQLite store in the test's temporary directory,
// closed at the end of the test.
func newStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "loom.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return st
}

// openBenchStore opens the SQLite store the benchmarks measure.
func openBenchStore(ctx context.Context, path string) (store.Store, error) {
	return sqlite.Open(ctx, sqlite.Config{Path: path})
}
