package server_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/sqlite"
)

// openStore opens a fresh SQLite store in t's temporary directory, closed
// when t ends.
func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "loom.db")})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return st
}
