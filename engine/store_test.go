package engine_test

import (
	"testing"

	"github.com/loomhq/loom/engine/internal/memstore"
	"github.com/loomhq/loom/store"
)

// newStore returns a fresh store for one test.
func newStore(t *testing.T) store.Store {
	t.Helper()
	return memstore.New()
}
