package engine_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/loomtest/executortest"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/postgres/pgtest"
)

// durableCaps are what the DistributedExecutor can do: everything the
// suite asks, compensation and fan-out items as tasks of their own
// included.
var durableCaps = executortest.Capabilities{UniqueRunIDs: true, StepIdempotency: true, Compensation: true, FanOutItemRuns: true}

// conformanceHarness runs each subtest on an engine of its own over the
// store newStore opens.
func conformanceHarness(newStore func(t *testing.T) store.Store) executortest.Harness {
	return executortest.Harness{
		New: func(t *testing.T, events *loom.EventEmitter) loom.Executor {
			te := setup(t, newStore(t), engine.Config{
				Events: events, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			return engine.NewDistributedExecutor(te.Engine)
		},
		Caps: durableCaps,
	}
}

// TestExecutorConformanceSQLite runs the executor suite on the
// DistributedExecutor over SQLite.
func TestExecutorConformanceSQLite(t *testing.T) {
	t.Parallel()
	executortest.Run(t, conformanceHarness(newStore))
}

// TestExecutorConformancePostgres runs the executor suite on the
// DistributedExecutor over PostgreSQL.
func TestExecutorConformancePostgres(t *testing.T) {
	t.Parallel()
	executortest.Run(t, conformanceHarness(func(t *testing.T) store.Store {
		st, _ := pgtest.Open(t)
		return st
	}))
}
