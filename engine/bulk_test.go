package engine_test

import (
	"context"
	"errors"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
)

// TestBulkRetryAndCancel retries every failed task of one type and
// cancels every pending task of one queue: bounded by the limit, a dry run
// acting on nothing, and a second call finding nothing left to do.
func TestBulkRetryAndCancel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	failing := &loom.Task{Name: "fails", Handler: loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
		return nil, loom.Permanent(errors.New("no"))
	})}
	te := setup(t, nil, engine.Config{}, failing, noop("ok"))
	var failed []string
	for range 5 {
		failed = append(failed, te.submit(t, &engine.SubmitParams{Type: "fails"}).ID)
	}
	te.submit(t, &engine.SubmitParams{Type: "ok"})
	for _, id := range failed {
		if got := te.wait(t, id); got.Status != loom.StatusFailed {
			t.Fatalf("task %s: %s, want failed", id, got.Status)
		}
	}

	dry, err := te.BulkRetry(ctx, &engine.BulkParams{Type: "fails", DryRun: true})
	if err != nil || dry.Matched != 5 || dry.Acted != 0 || len(dry.IDs) != 5 {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	part, err := te.BulkRetry(ctx, &engine.BulkParams{Type: "fails", Limit: 2})
	if err != nil || part.Matched != 2 || part.Acted != 2 || !part.More {
		t.Fatalf("retry with limit 2: %+v, %v", part, err)
	}
	for _, id := range part.IDs {
		if got := te.wait(t, id); got.Attempt != 2 || got.Status != loom.StatusFailed {
			t.Errorf("retried %s: attempt %d %s", id, got.Attempt, got.Status)
		}
	}
	// The two retried have failed again, so all five match once more.
	rest, err := te.BulkRetry(ctx, &engine.BulkParams{Type: "fails"})
	if err != nil || rest.Acted != 5 || rest.More {
		t.Fatalf("retry the rest: %+v, %v", rest, err)
	}
	for _, id := range failed {
		te.wait(t, id)
	}

	if _, err := te.BulkRetry(ctx, &engine.BulkParams{Status: []loom.Status{loom.StatusRunning}}); !errors.Is(err, engine.ErrInvalid) {
		t.Errorf("retry running tasks: %v, want ErrInvalid", err)
	}
	if _, err := te.BulkCancel(ctx, &engine.BulkParams{Limit: engine.MaxBulkLimit + 1}); !errors.Is(err, engine.ErrInvalid) {
		t.Errorf("a limit over the bound: %v, want ErrInvalid", err)
	}
}

// TestBulkCancelPending cancels the pending tasks of one queue, leaving
// another queue's alone, on an engine whose workers are not running.
func TestBulkCancelPending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	te := newTestEngine(t, nil, engine.Config{}, noop("ok"))
	for range 3 {
		te.submit(t, &engine.SubmitParams{Type: "ok", Queue: "slow"})
	}
	other := te.submit(t, &engine.SubmitParams{Type: "ok", Queue: "fast"})
	res, err := te.BulkCancel(ctx, &engine.BulkParams{Queue: "slow", Reason: "drain"})
	if err != nil || res.Acted != 3 || res.Skipped != 0 {
		t.Fatalf("cancel: %+v, %v", res, err)
	}
	for _, id := range res.IDs {
		got, err := te.Get(ctx, id)
		if err != nil || got.Status != loom.StatusCancelled || got.Msg != "drain" {
			t.Errorf("task %s: %+v, %v", id, got, err)
		}
	}
	again, err := te.BulkCancel(ctx, &engine.BulkParams{Queue: "slow"})
	if err != nil || again.Matched != 0 {
		t.Errorf("cancel again: %+v, %v", again, err)
	}
	if got, _ := te.Get(ctx, other.ID); got.Status != loom.StatusPending {
		t.Errorf("the other queue's task is %s", got.Status)
	}
}
