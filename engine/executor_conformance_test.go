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

// durableCaps are what the DistributedExecutor can do today; see
// executortest.Capabilities for what each missing one means. Switched on,
// the subtests of the two it lacks fail durably today:
//
//   - Compensation (Flows/Compensation): no compensation runs;
//   - FanOutItemRuns (FanOut/ItemRuns): the fan-out step is one task, so
//     its items emit no task.started of their own.
//
// Set each to true once the engine has it.
var durableCaps = executortest.Capabilities{UniqueRunIDs: true, StepIdempotency: true}

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
