package main

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/taskmaster"
)

// startTaskmaster builds the taskmasters over the engine's store and
// registers the wait task type with the engine; the caller runs it.
// Notifiers post with client.
func startTaskmaster(eng *engine.Engine, st store.Store, logger *slog.Logger, client *http.Client) (*taskmaster.Taskmaster, error) {
	tst, ok := st.(store.TaskmasterStore)
	if !ok {
		return nil, fmt.Errorf("start taskmaster: the store %T keeps no schedules", st)
	}
	tm, err := taskmaster.New(taskmaster.Config{Engine: eng, Store: tst, Logger: logger, HTTPClient: client})
	if err != nil {
		return nil, fmt.Errorf("start taskmaster: %w", err)
	}
	if err := eng.Register(tm.WaitTask()); err != nil {
		return nil, fmt.Errorf("start taskmaster: %w", err)
	}
	return tm, nil
}
