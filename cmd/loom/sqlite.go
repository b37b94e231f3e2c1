package main

import (
	"context"
	"fmt"

	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/sqlite"
)

// openStore opens (creating when missing) the SQLite database at path;
// sync is its synchronous setting, "" for the default (NORMAL); key, if
// any, seals the secrets it keeps.
func openStore(ctx context.Context, path, sync string, key ...[]byte) (store.Store, error) {
	cfg := sqlite.Config{Path: path, Synchronous: sync}
	if len(key) > 0 {
		cfg.SecretKey = key[0]
	}
	st, err := sqlite.Open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return st, nil
}

// openBenchStore opens the store `loom bench` measures.
func openBenchStore(ctx context.Context, path string) (store.Store, error) {
	return openStore(ctx, path, "")
}
