package taskmaster_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/flowfile"
	"github.com/loomhq/loom/loomtest"
	"github.com/loomhq/loom/store/sqlite"
	"github.com/loomhq/loom/taskmaster"
)

// tick is how far the durable fixture's clock moves per look, and its
// engine's poll interval: each move wakes the dispatcher.
const tick = 100 * time.Millisecond

// durable is a working engine and taskmaster on a SQLite file, all on a
// fake clock, that can be stopped and started again on the same file: a
// process restart.
type durable struct {
	path  string
	clock *loomtest.FakeClock
	// flow is a flow file built and registered at each start, with the
	// wait type and the durable's Go tasks as its types.
	flow  string
	tasks func() []*loom.Task
	// idle, when set, keeps the taskmaster from running at the next
	// start: it then reads the event log only after a later start.
	idle bool

	st   *sqlite.Store
	eng  *engine.Engine
	tm   *taskmaster.Taskmaster
	stop func()
}

func newDurable(t *testing.T, flow string, tasks func() []*loom.Task) *durable {
	t.Helper()
	d := &durable{
		path:  filepath.Join(t.TempDir(), "loom.db"),
		clock: loomtest.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
		flow:  flow,
		tasks: tasks,
	}
	d.start(t)
	return d
}

// start opens the store and runs an engine with workers and a taskmaster
// on it, until stop or the end of the test.
func (d *durable) start(t *testing.T) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: d.path})
	require.NoError(t, err)
	eng, err := engine.New(engine.Config{Store: st, Clock: d.clock, Workers: 2, Logger: quiet(),
		PollInterval: tick, ReapInterval: tick, ShutdownTimeout: time.Second})
	require.NoError(t, err)
	tm, err := taskmaster.New(taskmaster.Config{Engine: eng, Store: st, Clock: d.clock, Logger: quiet(), PollInterval: tick})
	require.NoError(t, err)
	reg := flowfile.Tasks{taskmaster.WaitType: tm.WaitTask()}
	if d.tasks != nil {
		for _, task := range d.tasks() {
			reg[task.Name] = task
			require.NoError(t, eng.Register(task))
		}
	}
	require.NoError(t, eng.Register(tm.WaitTask()))
	if d.flow != "" {
		file, err := flowfile.Parse("flow.yaml", []byte(d.flow))
		require.NoError(t, err)
		flow, err := file.Build(reg)
		require.NoError(t, err)
		require.NoError(t, eng.Register(flow))
	}
	ctx, cancel := context.WithCancel(context.Background())
	engDone, tmDone := make(chan error, 1), make(chan error, 1)
	go func() { engDone <- eng.Run(ctx) }()
	if d.idle {
		tmDone <- nil
	} else {
		go func() { tmDone <- tm.Run(ctx) }()
	}
	var once sync.Once
	d.st, d.eng, d.tm = st, eng, tm
	d.stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-tmDone)
			require.NoError(t, <-engDone)
			require.NoError(t, eng.Close())
			require.NoError(t, st.Close())
		})
	}
	t.Cleanup(d.stop)
}

// restart stops everything and starts it again on the same file.
func (d *durable) restart(t *testing.T) {
	t.Helper()
	d.stop()
	d.start(t)
}

// until moves the clock a tick at a time until cond holds, failing after
// 10000 ticks (or 30 real seconds, for a slow machine).
func (d *durable) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; !cond(); i++ {
		if i > 10000 || time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		d.clock.Advance(tick)
		time.Sleep(time.Millisecond)
	}
}

// task reads a task.
func (d *durable) task(t *testing.T, id string) *loom.TaskInfo {
	t.Helper()
	task, err := d.eng.Get(t.Context(), id)
	require.NoError(t, err)
	return task
}

// waitingStep returns the flow's step named step once it waits: pending
// after at least one attempt.
func (d *durable) waitingStep(t *testing.T, flowID, step string) *loom.TaskInfo {
	t.Helper()
	var found *loom.TaskInfo
	d.until(t, "step "+step+" to wait", func() bool {
		children, err := d.eng.Children(t.Context(), flowID)
		require.NoError(t, err)
		for _, c := range children {
			if c.Type == "approval/"+step && c.Status == loom.StatusPending && c.Attempt >= 1 {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

// ended waits for a task to end, moving the clock.
func (d *durable) ended(t *testing.T, id string) *loom.TaskInfo {
	t.Helper()
	var task *loom.TaskInfo
	d.until(t, "task "+id+" to end", func() bool {
		task = d.task(t, id)
		return task.Status.Terminal()
	})
	return task
}

const approvalFlow = `
name: approval
inputs: [doc]
steps:
  - name: ask
    type: wait
    input: {signal: approve, timeout: 1h}
    provides: {data: decision}
  - name: publish
    type: publish
    requires: {doc: doc, decision: decision}
    provides: {out: result}
`

// publish is the step after the wait: it says who approved what.
func publish() []*loom.Task {
	return []*loom.Task{loom.NewTask("publish", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
		decision, _ := in["decision"].(map[string]any)
		return loom.Values{"out": fmt.Sprintf("%v approved by %v", in["doc"], decision["by"])}, nil
	}))}
}

func TestWaitForSignalSurvivesARestart(t *testing.T) {
	t.Parallel()
	d := newDurable(t, approvalFlow, publish)
	flow, _, err := d.eng.Submit(t.Context(), &engine.SubmitParams{Type: "approval", Input: loom.Values{"doc": "q3-report"}})
	require.NoError(t, err)
	step := d.waitingStep(t, flow.ID, "ask")

	// Down while the step waits; up again on the same file.
	d.restart(t)
	require.Equal(t, loom.StatusPending, d.task(t, step.ID).Status)
	require.Equal(t, loom.StatusRunning, d.task(t, flow.ID).Status)

	// A wrong signal name does not wake it.
	_, err = d.tm.Signal(t.Context(), step.ID, "reject", nil)
	require.NoError(t, err)
	_, err = d.tm.Signal(t.Context(), step.ID, "approve", map[string]any{"by": "ada"})
	require.NoError(t, err)
	got := d.ended(t, flow.ID)
	require.Equal(t, loom.StatusCompleted, got.Status, got.Msg)
	require.Equal(t, "q3-report approved by ada", got.Output["result"])
	ask := d.task(t, step.ID)
	require.Equal(t, "approve", ask.Output["signal"])
	require.Equal(t, map[string]any{"by": "ada"}, ask.Output["data"])
}

func TestWaitTimeoutFailsTheStep(t *testing.T) {
	t.Parallel()
	d := newDurable(t, approvalFlow, publish)
	flow, _, err := d.eng.Submit(t.Context(), &engine.SubmitParams{Type: "approval", Input: loom.Values{"doc": "q3-report"}})
	require.NoError(t, err)
	step := d.waitingStep(t, flow.ID, "ask")
	d.restart(t)

	// The timeout counts from the step's creation, on the clock, across
	// the restart.
	d.clock.Set(step.Created.Add(time.Hour))
	got := d.ended(t, flow.ID)
	require.Equal(t, loom.StatusFailed, got.Status)
	ask := d.task(t, step.ID)
	require.Equal(t, loom.StatusFailed, ask.Status)
	require.Contains(t, ask.Msg, `no signal "approve"`)

	// A signal after the timeout changes nothing.
	_, err = d.tm.Signal(t.Context(), step.ID, "reject", nil)
	require.NoError(t, err)
	require.Equal(t, loom.StatusFailed, d.task(t, step.ID).Status)

	// Retried by hand, the step waits afresh, its timeout counted from
	// the retry, and a signal then completes the flow.
	_, err = d.eng.Retry(t.Context(), flow.ID, nil)
	require.NoError(t, err)
	d.until(t, "the retried step to wait", func() bool {
		task := d.task(t, step.ID)
		return task.Status == loom.StatusPending && task.Attempt > ask.Attempt
	})
	d.clock.Advance(30 * time.Minute)
	d.settle(t)
	require.False(t, d.task(t, step.ID).Status.Terminal(), "the retried wait timed out at once")
	_, err = d.tm.Signal(t.Context(), step.ID, "approve", map[string]any{"by": "bob"})
	require.NoError(t, err)
	got = d.ended(t, flow.ID)
	require.Equal(t, loom.StatusCompleted, got.Status, got.Msg)
	require.Equal(t, "q3-report approved by bob", got.Output["result"])
}

func TestWaitTimeoutCanComplete(t *testing.T) {
	t.Parallel()
	d := newDurable(t, `
name: approval
steps:
  - name: ask
    type: wait
    input: {signal: approve, timeout: 10m, on_timeout: complete}
    provides: {timed_out: timed_out}
`, nil)
	flow, _, err := d.eng.Submit(t.Context(), &engine.SubmitParams{Type: "approval"})
	require.NoError(t, err)
	step := d.waitingStep(t, flow.ID, "ask")
	d.clock.Set(step.Created.Add(10 * time.Minute))
	got := d.ended(t, flow.ID)
	require.Equal(t, loom.StatusCompleted, got.Status, got.Msg)
	require.Equal(t, true, got.Output["timed_out"])
}

func TestDurableTimerFiresAfterARestart(t *testing.T) {
	t.Parallel()
	d := newDurable(t, `
name: approval
steps:
  - name: pause
    type: wait
    input: {duration: 2h}
    provides: {waited_until: woke}
`, nil)
	flow, _, err := d.eng.Submit(t.Context(), &engine.SubmitParams{Type: "approval"})
	require.NoError(t, err)
	step := d.waitingStep(t, flow.ID, "pause")
	d.stop()
	// Down for most of the wait; still waiting after the restart.
	d.clock.Set(step.Created.Add(90 * time.Minute))
	d.start(t)
	d.clock.Advance(tick)
	require.Equal(t, loom.StatusPending, d.task(t, step.ID).Status)
	require.False(t, d.task(t, flow.ID).Status.Terminal())

	d.clock.Set(step.Created.Add(2 * time.Hour))
	got := d.ended(t, flow.ID)
	require.Equal(t, loom.StatusCompleted, got.Status, got.Msg)
	require.Equal(t, step.Created.Add(2*time.Hour).UTC().Format(time.RFC3339Nano), got.Output["woke"])
}

func TestWaitNeedsTheDurableEngine(t *testing.T) {
	t.Parallel()
	f := setup(t)
	wait := taskmaster.NewWaitTask(f.st, f.clock)
	_, err := wait.Handler.Handle(t.Context(), loom.Values{"signal": "x"})
	require.True(t, loom.IsPermanent(err), "%v", err)
}

func TestWaitTakesTheSignalSentToItsFlow(t *testing.T) {
	t.Parallel()
	d := newDurable(t, approvalFlow, publish)
	flow, _, err := d.eng.Submit(t.Context(), &engine.SubmitParams{Type: "approval", Input: loom.Values{"doc": "memo"}})
	require.NoError(t, err)
	step := d.waitingStep(t, flow.ID, "ask")
	require.True(t, step.RunAt.After(d.clock.Now()), "the step waits until its next look")
	_, err = d.tm.Signal(t.Context(), flow.ID, "approve", map[string]any{"by": "grace"})
	require.NoError(t, err)
	// Passed on to the step, the signal makes it due now.
	step, err = d.eng.Get(t.Context(), step.ID)
	require.NoError(t, err)
	require.False(t, step.RunAt.After(d.clock.Now()), "step due at %s, after now %s", step.RunAt, d.clock.Now())
	got := d.ended(t, flow.ID)
	require.Equal(t, loom.StatusCompleted, got.Status, got.Msg)
	require.Equal(t, "memo approved by grace", got.Output["result"])
}
