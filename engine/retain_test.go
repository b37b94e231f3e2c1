package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/loomtest"
	"github.com/loomhq/loom/store"
)

// TestRetention deletes ended tasks once they are older than their
// queue's retention, on the engine's clock, and keeps what a queue keeps
// for ever.
func TestRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := loomtest.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	te := setup(t, nil, engine.Config{
		Clock: clock, Retain: time.Hour,
		Queues:       []engine.Queue{{Name: "default"}, {Name: "short"}, {Name: "keep"}},
		RetainQueues: map[string]time.Duration{"short": time.Minute, "keep": 0},
	}, noop("ok"))
	ids := map[string]string{}
	for _, q := range []string{"default", "short", "keep"} {
		tk := te.submit(t, &engine.SubmitParams{Type: "ok", Queue: q})
		// The engine's pollers sleep on the fake clock: nudge it until
		// the task has run.
		eventually(t, "the task to complete", func() bool {
			clock.Advance(250 * time.Millisecond)
			got, err := te.Get(ctx, tk.ID)
			return err == nil && got.Status == loom.StatusCompleted
		})
		ids[q] = tk.ID
	}
	gone := func(id string) bool {
		_, err := te.Get(ctx, id)
		return errors.Is(err, loom.ErrNotFound)
	}
	// Time passes a step at a time: the retention loop sets its next timer
	// after each pass.
	eventually(t, "the short queue's task to be deleted", func() bool {
		clock.Advance(30 * time.Second)
		return gone(ids["short"])
	})
	if gone(ids["default"]) || gone(ids["keep"]) {
		t.Fatalf("a task was deleted before its retention")
	}
	eventually(t, "the default queue's task to be deleted", func() bool {
		clock.Advance(5 * time.Minute)
		return gone(ids["default"])
	})
	if gone(ids["keep"]) {
		t.Errorf("the task of a queue kept for ever was deleted")
	}
	// Prune does it at once, on any cut-off.
	n, err := te.Prune(ctx, &store.PruneTasksParams{EndedBefore: clock.Now()})
	if err != nil || n != 1 || !gone(ids["keep"]) {
		t.Errorf("Prune: %d, %v", n, err)
	}
}
