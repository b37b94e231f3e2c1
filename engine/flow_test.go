package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
)

// etl builds the seed's three-step flow; fail makes "clean" fail while it
// returns true, and gate, when set, blocks "store" until closed.
type etl struct {
	flow             *loom.Task
	mu               sync.Mutex
	runs             map[string]int
	fail             atomic.Bool
	gate             chan struct{}
	storeStarted     chan struct{}
	storeStartedOnce sync.Once
	// storeStopped receives the cause when "store" is stopped mid-run.
	storeStopped chan error
}

func newETL(t *testing.T) *etl {
	t.Helper()
	x := &etl{runs: map[string]int{}, storeStarted: make(chan struct{}), storeStopped: make(chan error, 10)}
	count := func(name string) { x.mu.Lock(); x.runs[name]++; x.mu.Unlock() }
	ingest := loom.NewTask("ingest", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
		count("ingest")
		return loom.Values{"ingested_data": "raw:" + in["data_source"].(string)}, nil
	}))
	clean := loom.NewTask("clean", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
		count("clean")
		if x.fail.Load() {
			return nil, errors.New("dirty data")
		}
		return loom.Values{"cleaned_data": "clean(" + in["input_data"].(string) + ")"}, nil
	}))
	storeT := loom.NewTask("store", loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		count("store")
		x.storeStartedOnce.Do(func() { close(x.storeStarted) })
		if x.gate != nil {
			select {
			case <-x.gate:
			case <-ctx.Done():
				x.storeStopped <- context.Cause(ctx)
				return nil, ctx.Err()
			}
		}
		return loom.Values{"storage_path": "/data/" + in["data_to_store"].(string)}, nil
	}))
	f, err := loom.NewFlow("etl", loom.FlowDef{
		Inputs: []string{"data_source"},
		Steps: []loom.Step{
			{Task: ingest, Provides: map[string]string{"ingested_data": "raw_data"}},
			{Task: clean, Requires: map[string]string{"input_data": "raw_data"}, Provides: map[string]string{"cleaned_data": "processed_data"}},
			{Task: storeT, Requires: map[string]string{"data_to_store": "processed_data"}, Provides: map[string]string{"storage_path": "path"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	x.flow = f
	return x
}

func (x *etl) count(name string) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.runs[name]
}

func TestFlowRunsStepsWithDataWiring(t *testing.T) {
	t.Parallel()
	x := newETL(t)
	te := setup(t, nil, engine.Config{}, x.flow)
	info := te.submit(t, &engine.SubmitParams{Type: "etl", Input: loom.Values{"data_source": "s3"}})
	got := te.wait(t, info.ID)
	if got.Status != loom.StatusCompleted {
		t.Fatalf("flow %s: %s", got.Status, got.Msg)
	}
	if got.Output["path"] != "/data/clean(raw:s3)" || got.Output["raw_data"] != "raw:s3" {
		t.Fatalf("flow output %v", got.Output)
	}
	steps, err := te.Children(context.Background(), info.ID)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, s := range steps {
		order = append(order, s.Step)
		if s.Status != loom.StatusCompleted || s.ParentID != info.ID || s.Queue != info.Queue {
			t.Errorf("step %s: %s parent %s queue %s", s.Step, s.Status, s.ParentID, s.Queue)
		}
	}
	if len(order) != 3 || order[0] != "ingest" || order[1] != "clean" || order[2] != "store" {
		t.Fatalf("steps %v", order)
	}
}

func TestFlowFailsAndRetriesOnlyFailedStepAndDownstream(t *testing.T) {
	t.Parallel()
	x := newETL(t)
	x.fail.Store(true)
	te := setup(t, nil, engine.Config{}, x.flow)
	info := te.submit(t, &engine.SubmitParams{Type: "etl", Input: loom.Values{"data_source": "s3"}})
	got := te.wait(t, info.ID)
	if got.Status != loom.StatusFailed {
		t.Fatalf("flow %s, want failed", got.Status)
	}
	steps, _ := te.Children(context.Background(), info.ID)
	if len(steps) != 2 {
		t.Fatalf("%d steps created, want 2 (store never created)", len(steps))
	}
	x.fail.Store(false)
	if _, err := te.Retry(context.Background(), info.ID, nil); err != nil {
		t.Fatal(err)
	}
	got = te.wait(t, info.ID)
	if got.Status != loom.StatusCompleted {
		t.Fatalf("retried flow %s: %s", got.Status, got.Msg)
	}
	if x.count("ingest") != 1 || x.count("clean") != 2 || x.count("store") != 1 {
		t.Fatalf("runs %v, want ingest once, clean twice, store once", x.runs)
	}
}

func TestFlowResumesAfterRestart(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	x := newETL(t)
	x.gate = make(chan struct{})
	a := setup(t, st, engine.Config{ShutdownTimeout: 10_000_000}, x.flow)
	info := a.submit(t, &engine.SubmitParams{Type: "etl", Input: loom.Values{"data_source": "s3"}})
	<-x.storeStarted
	a.stop() // mid-flow: "store" is released back to pending
	close(x.gate)
	b := setup(t, st, engine.Config{}, x.flow)
	got := b.wait(t, info.ID)
	if got.Status != loom.StatusCompleted || got.Output["path"] != "/data/clean(raw:s3)" {
		t.Fatalf("resumed flow %s %v", got.Status, got.Output)
	}
	if x.count("ingest") != 1 || x.count("clean") != 1 || x.count("store") != 2 {
		t.Fatalf("runs %v: want ingest and clean once, store twice (interrupted, resumed)", x.runs)
	}
}

func TestCancelFlowCascades(t *testing.T) {
	t.Parallel()
	x := newETL(t)
	x.gate = make(chan struct{})
	defer close(x.gate)
	te := setup(t, nil, engine.Config{}, x.flow)
	info := te.submit(t, &engine.SubmitParams{Type: "etl", Input: loom.Values{"data_source": "s3"}})
	<-x.storeStarted
	if _, err := te.Cancel(context.Background(), info.ID, "stop"); err != nil {
		t.Fatal(err)
	}
	steps, _ := te.Children(context.Background(), info.ID)
	for _, s := range steps {
		if s.Step == "store" && s.Status != loom.StatusCancelled {
			t.Fatalf("running step after cancel: %s", s.Status)
		}
	}
	if got := te.wait(t, info.ID); got.Status != loom.StatusCancelled {
		t.Fatalf("flow %s", got.Status)
	}
	select {
	case cause := <-x.storeStopped:
		if !errors.Is(cause, loom.ErrCancelled) {
			t.Fatalf("running step stopped with %v, want ErrCancelled", cause)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the running step's handler was not stopped")
	}
}

// TestFlowRetryWithEditedInput fails a step that reads a flow input, then
// retries the flow with corrected input: the failed step runs again with
// it, reusing the saved output of the step before.
func TestFlowRetryWithEditedInput(t *testing.T) {
	t.Parallel()
	var fetches, checks atomic.Int32
	fetch := loom.NewTask("fetch2", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
		fetches.Add(1)
		return loom.Values{"rows": 3.0}, nil
	}))
	check := loom.NewTask("check2", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
		checks.Add(1)
		if in["mode"] != "strict" {
			return nil, fmt.Errorf("unknown mode %v", in["mode"])
		}
		return loom.Values{"ok": in["rows"]}, nil
	}))
	f, err := loom.NewFlow("edited", loom.FlowDef{
		Inputs: []string{"mode"},
		Steps: []loom.Step{
			{Task: fetch, Provides: map[string]string{"rows": "rows"}},
			{Task: check, Requires: map[string]string{"rows": "rows", "mode": "mode"}, Provides: map[string]string{"ok": "ok"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	te := setup(t, nil, engine.Config{}, f)
	info := te.submit(t, &engine.SubmitParams{Type: "edited", Input: loom.Values{"mode": "strcit"}})
	if got := te.wait(t, info.ID); got.Status != loom.StatusFailed {
		t.Fatalf("flow %s, want failed", got.Status)
	}
	if _, err := te.Retry(context.Background(), info.ID, loom.Values{"mode": "strict"}); err != nil {
		t.Fatal(err)
	}
	got := te.wait(t, info.ID)
	if got.Status != loom.StatusCompleted || got.Output["ok"] != 3.0 {
		t.Fatalf("retried flow %s %q %v", got.Status, got.Msg, got.Output)
	}
	if fetches.Load() != 1 || checks.Load() != 2 {
		t.Fatalf("fetch ran %d times, check %d; want 1 and 2", fetches.Load(), checks.Load())
	}
}

func TestDistributedExecutorFlow(t *testing.T) {
	t.Parallel()
	x := newETL(t)
	te := setup(t, nil, engine.Config{})
	res, err := engine.NewDistributedExecutor(te.Engine).Execute(context.Background(), x.flow, loom.Values{"data_source": "gs"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Output["path"] != "/data/clean(raw:gs)" || len(res.Steps) != 3 || res.Steps["clean"].Status != loom.StatusCompleted {
		t.Fatalf("result %+v", res)
	}
}

// TestFlowSubmitChecksInputs refuses a flow submitted without an input it
// declares, with a typed error naming it, and creates nothing.
func TestFlowSubmitChecksInputs(t *testing.T) {
	t.Parallel()
	x := newETL(t)
	te := newTestEngine(t, nil, engine.Config{}, x.flow)
	_, _, err := te.Submit(context.Background(), &engine.SubmitParams{Type: "etl", Input: loom.Values{"other": 1}})
	var missing *engine.MissingInputError
	if !errors.As(err, &missing) || !errors.Is(err, engine.ErrInvalid) {
		t.Fatalf("submit without data_source: %v, want a MissingInputError matching ErrInvalid", err)
	}
	if missing.Flow != "etl" || len(missing.Inputs) != 1 || missing.Inputs[0] != "data_source" {
		t.Fatalf("error %+v", missing)
	}
	if want := `engine: flow "etl": missing input "data_source"`; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	page, err := te.List(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Tasks) != 0 {
		t.Fatalf("%d task(s) created", len(page.Tasks))
	}
	// A null input counts as given: the flow decides what it means.
	te.submit(t, &engine.SubmitParams{Type: "etl", Input: loom.Values{"data_source": nil}})
}
