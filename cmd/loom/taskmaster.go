package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/taskmaster"
)

// startTaskmaster builds the taskmasters over the engine's store and
// registers the wait task type with the engine; the caller runs it while
// its server leads. Notifiers post with client. shared says the database
// may be shared with other servers: changes they make (a new schedule, a
// check) are then looked for every few seconds rather than every minute.
// sharedMaxSleep bounds the taskmaster's sleeps on a database other
// servers share: what they change is noticed within it.
const sharedMaxSleep = 5 * time.Second

func startTaskmaster(eng *engine.Engine, st store.Store, logger *slog.Logger, client *http.Client, shared bool) (*taskmaster.Taskmaster, error) {
	tst, ok := st.(store.TaskmasterStore)
	if !ok {
		return nil, fmt.Errorf("start taskmaster: the store %T keeps no schedules", st)
	}
	cfg := taskmaster.Config{Engine: eng, Store: tst, Logger: logger, HTTPClient: client, Elected: true}
	if shared {
		cfg.MaxSleep = sharedMaxSleep
	}
	tm, err := taskmaster.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("start taskmaster: %w", err)
	}
	if err := eng.Register(tm.WaitTask()); err != nil {
		return nil, fmt.Errorf("start taskmaster: %w", err)
	}
	return tm, nil
}
