//go:build !loomsqlite

package server_test

import (
	"testing"

	"github.com/loomhq/loom/store"
)

// openStore skips: this build has no SQLite store.
func openStore(t *testing.T) store.Store {
	t.Helper()
	t.Skip("built without the loomsqlite tag: no SQLite store")
	return nil
}
