package engine_test

import (
	"testing"
	"time"

	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store/postgres"
	"github.com/loomhq/loom/store/postgres/pgtest"
)

// TestWakeAcrossProcesses runs an engine on PostgreSQL that never polls
// within the test, and submits a task through another store on the same
// schema, as another server would: the announcement of the task, not a
// poll, makes the engine run it.
func TestWakeAcrossProcesses(t *testing.T) {
	t.Parallel()
	st, cfg := pgtest.Open(t)
	other, err := postgres.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })

	runner := setup(t, st, engine.Config{PollInterval: time.Hour}, noop("job"))
	submitter := newTestEngine(t, other, engine.Config{PollInterval: time.Hour}, noop("job"))
	// The first task may be claimed by the runner's first look for work;
	// each later one is submitted while the runner sleeps after the
	// previous one ended, and only its announcement can wake it.
	for range 5 {
		task := submitter.submit(t, &engine.SubmitParams{Type: "job"})
		if got := runner.wait(t, task.ID); got.Status != "completed" {
			t.Fatalf("task %s is %s: %s", got.ID, got.Status, got.Msg)
		}
	}
}
