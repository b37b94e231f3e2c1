package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
)

// TestAdmit: Config.Admit refuses a submission before anything is
// created, on the engine's queues and on external ones, with its reason.
func TestAdmit(t *testing.T) {
	t.Parallel()
	admit := func(p *engine.SubmitParams) error {
		if p.Input["bad"] == true {
			return errors.New("bad input is not allowed here")
		}
		return nil
	}
	te := setup(t, nil, engine.Config{Admit: admit, Queues: []engine.Queue{{Name: loom.DefaultQueue}, {Name: "far", External: true}}}, noop("job"))
	bad := loom.Values{"bad": true}
	for _, p := range []*engine.SubmitParams{{Type: "job", Input: bad}, {Type: "elsewhere", Queue: "far", Input: bad}} {
		_, _, err := te.Submit(context.Background(), p)
		if !errors.Is(err, engine.ErrRefused) || !strings.Contains(err.Error(), "bad input is not allowed here") {
			t.Errorf("Submit %s: %v, want ErrRefused with the reason", p.Type, err)
		}
		if err := te.Admit(p); !errors.Is(err, engine.ErrRefused) {
			t.Errorf("Admit %s: %v, want ErrRefused", p.Type, err)
		}
	}
	if _, err := te.SubmitMany(context.Background(), []*engine.SubmitParams{{Type: "job"}, {Type: "job", Input: bad}}); !errors.Is(err, engine.ErrRefused) {
		t.Fatalf("SubmitMany with one refused: %v", err)
	}
	page, err := te.List(context.Background(), &store.ListTasksParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Tasks) != 0 {
		t.Fatalf("refused submissions created %d task(s)", len(page.Tasks))
	}
	got := te.wait(t, te.submit(t, &engine.SubmitParams{Type: "job"}).ID)
	if got.Status != loom.StatusCompleted {
		t.Fatalf("admitted task: %s %s", got.Status, got.Msg)
	}
}

// TestAdmitRetryInput: retrying with new input asks Admit; retrying with
// the task's own input does not.
func TestAdmitRetryInput(t *testing.T) {
	t.Parallel()
	asked := 0
	admit := func(p *engine.SubmitParams) error {
		asked++
		if p.Input["bad"] == true {
			return errors.New("bad input is not allowed here")
		}
		return nil
	}
	fail := loom.NewTask("fail", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
		return nil, loom.Permanent(errors.New("no"))
	}))
	te := setup(t, nil, engine.Config{Admit: admit}, fail)
	failed := te.wait(t, te.submit(t, &engine.SubmitParams{Type: "fail"}).ID)
	if failed.Status != loom.StatusFailed {
		t.Fatalf("task %s", failed.Status)
	}
	if _, err := te.Retry(context.Background(), failed.ID, loom.Values{"bad": true}); !errors.Is(err, engine.ErrRefused) {
		t.Fatalf("retry with refused input: %v", err)
	}
	before := asked
	if _, err := te.Retry(context.Background(), failed.ID, nil); err != nil {
		t.Fatalf("retry as it was: %v", err)
	}
	if asked != before {
		t.Error("a retry without new input asked Admit")
	}
}

// TestWorkerLeavesBuiltinOut: a nil handler under a built-in's name leaves
// it out of a standalone worker, which then fails such tasks as unknown.
func TestWorkerLeavesBuiltinOut(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	te := setup(t, nil, engine.Config{Bus: b, Queues: []engine.Queue{{Name: loom.DefaultQueue}, {Name: "far", External: true}}})
	w, err := engine.NewWorker(engine.WorkerConfig{Bus: b, Queues: []string{"far"}, Handlers: map[string]loom.Handler{"exec": nil}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	wdone := make(chan error, 1)
	go func() { wdone <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-wdone; err != nil {
			t.Errorf("worker Run: %v", err)
		}
	}()
	info := te.submit(t, &engine.SubmitParams{Type: "exec", Queue: "far", Input: loom.Values{"command": []string{"true"}}})
	got := te.wait(t, info.ID)
	if got.Status != loom.StatusFailed || !strings.Contains(got.Msg, "unknown task type") {
		t.Fatalf("exec on a worker without it: %s %q", got.Status, got.Msg)
	}
}
