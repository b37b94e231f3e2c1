//go:build !loomdeps

package main

import (
	"context"
	"errors"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// wired reports whether this build has the store and runtimes.
const wired = false

const wiredTags = ""

// errNotBuilt: the store and runtime packages this command wires are not
// in this build yet.
var errNotBuilt = errors.New("this build of loom has no SQLite store and runtimes")

func openStore(context.Context, string, string) (store.Store, error) { return nil, errNotBuilt }

func openBenchStore(context.Context, string) (store.Store, error) { return nil, errNotBuilt }

func builtinHandlers() map[string]loom.Handler { return nil }

func loadFlowDir(string) ([]*loom.Task, error) { return nil, errNotBuilt }

func loadFlowFile(string) (*loom.Task, error) { return nil, errNotBuilt }
