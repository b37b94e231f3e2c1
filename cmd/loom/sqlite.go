package main

import (
	"context"
	"fmt"

	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/sqlite"
)

// openStore opens (creating when missing) the SQLite database at path;
// sync is its synchronous setting, "" for the default (NORMAL).
func openStore(ctx context.Context, path, sync string) (store.Store, error) {
	st, err := sqlite.Open(ctx, sqlite.Config{Path: path, Synchronous: sync})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return st, nil
}

// openBenchStore opens the store `loom bench` measures.
func openBenchStore(ctx context.Context, path string) (store.Store, error) {
	return openStore(ctx, path, "")
}
