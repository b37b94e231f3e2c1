package engine_test

import (
	"context"
	"errors"
	"testing"

	"github.com/loomhq/loom/engine"
)

// A nil params pointer means the defaults, or is ErrInvalid where the
// params name what to read; it never panics.
func TestNilParams(t *testing.T) {
	t.Parallel()
	te := setup(t, nil, engine.Config{}, noop("n"))
	ctx := context.Background()
	info := te.submit(t, &engine.SubmitParams{Type: "n"})
	te.wait(t, info.ID)
	page, err := te.List(ctx, nil)
	if err != nil || len(page.Tasks) != 1 || page.Tasks[0].ID != info.ID {
		t.Fatalf("List(nil) = %+v, %v; want the one task", page, err)
	}
	evs, err := te.Events(ctx, nil)
	if err != nil || len(evs) == 0 {
		t.Fatalf("Events(nil) = %d events, %v; want the task's events", len(evs), err)
	}
	if _, err := te.Logs(ctx, nil); !errors.Is(err, engine.ErrInvalid) {
		t.Fatalf("Logs(nil) err = %v, want ErrInvalid", err)
	}
	if _, _, err := te.Submit(ctx, nil); !errors.Is(err, engine.ErrInvalid) {
		t.Fatalf("Submit(nil) err = %v, want ErrInvalid", err)
	}
	if _, err := te.Stats(ctx, nil); err != nil {
		t.Fatalf("Stats(nil) err = %v", err)
	}
}
