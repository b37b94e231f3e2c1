package engine_test

import (
	"context"
	"testing"

	"github.com/loomhq/loom/engine/internal/memstore"
	"github.com/loomhq/loom/store"
)

// newStore returns a fresh store for one test.
func newStore(t *testing.T) store.Store {
	t.Helper()
	return memstore.New()
}

// openBenchStore opens the store the benchmarks measure.
func openBenchStore(context.Context, string) (store.Store, error) { return memstore.New(), nil }
