//go:build !loomsqlite

package main

import (
	"context"
	"errors"

	"github.com/loomhq/loom/store"
)

// wired reports whether this build has the SQLite store.
const wired = false

// wiredTags are the build tags that select the SQLite store.
const wiredTags = ""

// errNotBuilt: the SQLite store is not in this build.
var errNotBuilt = errors.New("this build of loom has no SQLite store")

func openStore(context.Context, string, string) (store.Store, error) { return nil, errNotBuilt }

func openBenchStore(context.Context, string) (store.Store, error) { return nil, errNotBuilt }
