package loom_test

import (
	"log/slog"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/loomtest/executortest"
)

// quiet drops the logs of handlers the suite makes panic.
var quiet = slog.New(slog.DiscardHandler)

// TestExecutorConformance runs the executor suite on the library's three
// executors.
func TestExecutorConformance(t *testing.T) {
	t.Parallel()
	for _, k := range executorKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			executortest.Run(t, executortest.Harness{
				New: func(_ *testing.T, events *loom.EventEmitter) loom.Executor {
					return k.new(loom.Config{Events: events, Logger: quiet})
				},
				Caps: executortest.LibraryCapabilities,
			})
		})
	}
}
