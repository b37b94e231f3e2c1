package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/bus/file"
	"github.com/loomhq/loom/engine"
)

// gatedProgress is a handler that reports half of ten items, waits for
// gate, then reports all ten many times over (coalesced) and returns.
func gatedProgress(gate <-chan struct{}) loom.Handler {
	return loom.HandlerFunc(func(ctx context.Context, _ loom.Values) (loom.Values, error) {
		for i := range int64(5) {
			loom.ReportProgress(ctx, i+1, 10, "copying")
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		for i := range 1000 {
			loom.ReportProgress(ctx, 5+int64(i%5)+1, 10, "copying")
		}
		loom.ReportProgress(ctx, 10, 10, "all copied")
		return loom.Values{}, nil
	})
}

// checkProgress watches task id show 5/10 while it waits at the gate,
// opens the gate, and checks the ended task keeps its last report.
func checkProgress(t *testing.T, te *testEngine, id string, gate chan struct{}) {
	t.Helper()
	ctx := context.Background()
	eventually(t, "progress 5/10 on the running task", func() bool {
		got, err := te.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return got.Status == loom.StatusRunning && got.Progress != nil && got.Progress.Done == 5
	})
	running, _ := te.Get(ctx, id)
	if p := running.Progress; p.Total != 10 || p.Message != "copying" || p.UpdatedAt.IsZero() {
		t.Fatalf("running progress %+v", p)
	}
	close(gate)
	got := te.wait(t, id)
	if got.Status != loom.StatusCompleted {
		t.Fatalf("task %s: %q", got.Status, got.Msg)
	}
	if p := got.Progress; p == nil || p.Done != 10 || p.Total != 10 || p.Message != "all copied" {
		t.Fatalf("ended task's progress %+v, want the last report 10/10 all copied", p)
	}
}

// TestProgressEmbedded: a handler's reports reach the task while it runs,
// and the last stays once it has ended.
func TestProgressEmbedded(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	te := setup(t, nil, engine.Config{}, loom.NewTask("copy", gatedProgress(gate)))
	checkProgress(t, te, te.submit(t, &engine.SubmitParams{Type: "copy"}).ID, gate)
}

// TestProgressRemoteWorker: a standalone worker on another machine (over
// the file bus) sends its handler's reports as progress messages, and the
// last with its done message.
func TestProgressRemoteWorker(t *testing.T) {
	t.Parallel()
	b, err := file.New(file.Config{Dir: t.TempDir(), PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	// A group of its own sees every message on the done stream.
	audit, err := b.ConsumeDone(context.Background(), bus.ConsumeOptions{Group: "audit"})
	if err != nil {
		t.Fatal(err)
	}
	defer audit.Close()
	te := setup(t, nil, engine.Config{Bus: b, Queues: []engine.Queue{{Name: "remote", External: true}}})
	gate := make(chan struct{})
	startWorker(t, b, "remote", "copy-remote", gatedProgress(gate))
	checkProgress(t, te, te.submit(t, &engine.SubmitParams{Type: "copy-remote", Queue: "remote"}).ID, gate)

	// What the worker published matches the documented schema.
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	progressSchema, err := c.Compile(schemaFile + "#/$defs/progress")
	if err != nil {
		t.Fatal(err)
	}
	_, doneSchema := messageSchemas(t)
	var progressMsgs int
	for done := false; !done; {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ds, err := audit.Receive(ctx, 100)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Message.IsProgress() {
				progressMsgs++
				validateMessage(t, progressSchema, "progress message", d.Message)
				continue
			}
			validateMessage(t, doneSchema, "done message", d.Message)
			if d.Message.Progress == nil || d.Message.Progress.Done != 10 {
				t.Errorf("done message's progress %+v, want the last report", d.Message.Progress)
			}
			done = true
		}
	}
	if progressMsgs == 0 || progressMsgs > 100 {
		t.Errorf("%d progress messages for 1006 reports, want a few", progressMsgs)
	}
}

// TestProgressOutsideRun: ReportProgress outside an attempt does nothing.
func TestProgressOutsideRun(t *testing.T) {
	loom.ReportProgress(context.Background(), 1, 2, "nobody listens")
}

// TestProgressMessageValidation: a progress message needs its attempt,
// and counts that are not negative.
func TestProgressMessageValidation(t *testing.T) {
	ok := bus.Message{ID: "t1", Type: "x", Attempt: 1, Progress: &loom.Progress{Done: 1, Total: 2}}
	if err := ok.ValidateDone(); err != nil {
		t.Fatalf("valid progress message refused: %v", err)
	}
	for name, m := range map[string]bus.Message{
		"no attempt": {ID: "t1", Type: "x", Progress: &loom.Progress{Done: 1}},
		"negative":   {ID: "t1", Type: "x", Attempt: 1, Progress: &loom.Progress{Done: -1}},
		"no result":  {ID: "t1", Type: "x", Attempt: 1},
	} {
		if err := m.ValidateDone(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestProgressExecLine: an exec task's "::progress" line on stdout is the
// task's progress, kept once it has ended.
func TestProgressExecLine(t *testing.T) {
	t.Parallel()
	te := setup(t, nil, engine.Config{})
	info := te.submit(t, &engine.SubmitParams{Type: "exec", Input: loom.Values{
		"command": []any{"sh", "-c", "echo '::progress 1/4 one'; echo '::progress 3/4 three of four'; echo done"},
	}})
	got := te.wait(t, info.ID)
	if got.Status != loom.StatusCompleted {
		t.Fatalf("exec task %s: %q", got.Status, got.Msg)
	}
	if p := got.Progress; p == nil || p.Done != 3 || p.Total != 4 || p.Message != "three of four" {
		t.Fatalf("exec task's progress %+v, want 3/4 three of four", p)
	}
}
