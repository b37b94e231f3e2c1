package taskmaster_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/taskmaster"
)

// completionTasks are "a", which doubles its input n, or fails when told
// to (fail: how many attempts fail, -1 all), with up to three attempts 10s
// apart (longer than settle); and "b", which the triggers create.
func completionTasks() []*loom.Task {
	var (
		mu    sync.Mutex
		tries = map[string]int{}
	)
	a := loom.NewTask("a", loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		att, _ := loom.Attempt(ctx)
		mu.Lock()
		tries[att.RunID]++
		n := tries[att.RunID]
		mu.Unlock()
		if fail, _ := in["fail"].(float64); fail < 0 || float64(n) <= fail {
			return nil, errors.New("a failed")
		}
		x, _ := in["n"].(float64)
		return loom.Values{"n": x * 2}, nil
	}))
	a.Retry = &loom.RetryPolicy{MaxAttempts: 3, InitialDelay: 10 * time.Second, BackoffFactor: 1}
	b := loom.NewTask("b", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) { return nil, nil }))
	return []*loom.Task{a, b}
}

// created returns the tasks of type b trigger name created.
func (d *durable) created(t *testing.T, trigger string) []*loom.TaskInfo {
	t.Helper()
	page, err := d.st.ListTasks(t.Context(), &store.ListTasksParams{Type: "b", Text: taskmaster.TriggerKeyPrefix + trigger + "@", Limit: 1000})
	require.NoError(t, err)
	return page.Tasks
}

// putCompletion adds a completion trigger on a's end with result; a
// failed a has no output to map.
func (d *durable) putCompletion(t *testing.T, name string, result loom.TaskResult) {
	t.Helper()
	mapping := map[string]string{"from": "data.id", "why": "data.msg"}
	if result == loom.ResultComplete {
		mapping["doubled"] = "data.output.n"
	}
	_, err := d.tm.PutTrigger(t.Context(), &store.Trigger{
		Name: name, Kind: store.TriggerCompletion, OnType: "a", OnResult: result,
		Mapping: mapping,
		Task:    store.TaskTemplate{Type: "b", Input: loom.Values{"static": "yes"}},
	})
	require.NoError(t, err)
}

// submitA submits a task of type a.
func (d *durable) submitA(t *testing.T, in loom.Values) *loom.TaskInfo {
	t.Helper()
	task, _, err := d.eng.Submit(t.Context(), &engine.SubmitParams{Type: "a", Input: in})
	require.NoError(t, err)
	return task
}

func TestCompletionTriggerMapsOutput(t *testing.T) {
	t.Parallel()
	d := newDurable(t, "", completionTasks)
	d.putCompletion(t, "on-done", loom.ResultComplete)
	a := d.submitA(t, loom.Values{"n": 21})
	require.Equal(t, loom.StatusCompleted, d.ended(t, a.ID).Status)
	var bs []*loom.TaskInfo
	d.until(t, "b to be created", func() bool { bs = d.created(t, "on-done"); return len(bs) > 0 })
	require.Len(t, bs, 1)
	require.Equal(t, loom.Values{"doubled": 42.0, "from": a.ID, "why": "", "static": "yes"}, jsonValues(bs[0].Input))
	require.Equal(t, "on-done", bs[0].Attributes["trigger"])

	// A failed a does not fire a trigger on complete.
	failed := d.submitA(t, loom.Values{"n": 1, "fail": -1})
	require.Equal(t, loom.StatusFailed, d.ended(t, failed.ID).Status)
	d.settle(t)
	require.Len(t, d.created(t, "on-done"), 1)
}

func TestCompletionTriggerOnErrorFiresAfterTheLastAttempt(t *testing.T) {
	t.Parallel()
	d := newDurable(t, "", completionTasks)
	d.putCompletion(t, "on-error", loom.ResultError)

	// Fails once, then completes: a retried attempt is no failure.
	flaky := d.submitA(t, loom.Values{"n": 1, "fail": 1})
	d.until(t, "the first attempt to fail", func() bool {
		task := d.task(t, flaky.ID)
		return task.Attempt == 1 && task.Status == loom.StatusPending
	})
	d.settle(t)
	require.Empty(t, d.created(t, "on-error"), "a retried attempt fired the trigger")
	require.Equal(t, loom.StatusCompleted, d.ended(t, flaky.ID).Status)
	d.settle(t)
	require.Empty(t, d.created(t, "on-error"))

	// Fails every attempt: fires once, after the third.
	bad := d.submitA(t, loom.Values{"n": 1, "fail": -1})
	d.until(t, "the second attempt to fail", func() bool {
		task := d.task(t, bad.ID)
		return task.Attempt == 2 && task.Status == loom.StatusPending
	})
	d.settle(t)
	require.Empty(t, d.created(t, "on-error"), "a retried attempt fired the trigger")
	got := d.ended(t, bad.ID)
	require.Equal(t, loom.StatusFailed, got.Status)
	require.Equal(t, 3, got.Attempt)
	var bs []*loom.TaskInfo
	d.until(t, "b to be created", func() bool { bs = d.created(t, "on-error"); return len(bs) > 0 })
	require.Len(t, bs, 1)
	require.Equal(t, bad.ID, bs[0].Input["from"])
	require.Contains(t, bs[0].Input["why"], "a failed")
}

func TestCompletionTriggerCreatesOnce(t *testing.T) {
	t.Parallel()
	d := newDurable(t, "", completionTasks)
	d.putCompletion(t, "once", loom.ResultComplete)
	// A second taskmaster on the same store, as a second server would be:
	// both see every completion.
	other, err := taskmaster.New(taskmaster.Config{Engine: d.eng, Store: d.st, Clock: d.clock, Logger: quiet(), PollInterval: tick})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- other.Run(ctx) }()

	var as []*loom.TaskInfo
	for i := range 5 {
		as = append(as, d.submitA(t, loom.Values{"n": i}))
	}
	for _, a := range as {
		require.Equal(t, loom.StatusCompleted, d.ended(t, a.ID).Status)
	}
	d.until(t, "five b", func() bool { return len(d.created(t, "once")) >= len(as) })
	d.settle(t)
	cancel()
	require.NoError(t, <-done)

	// And once more after a restart: the follower goes on from its
	// cursor, and replays only what the store made idempotent.
	d.restart(t)
	d.settle(t)
	bs := d.created(t, "once")
	require.Len(t, bs, len(as))
	from := map[any]bool{}
	for _, b := range bs {
		from[b.Input["from"]] = true
	}
	require.Len(t, from, len(as), "one b for each a")
}

// TestCompletionTriggerSeesTheEndOfTheEvent has a task fail and be retried
// by hand into success before the taskmaster reads the log: the failure
// still fires the trigger on error, and the success the one on complete.
func TestCompletionTriggerSeesTheEndOfTheEvent(t *testing.T) {
	t.Parallel()
	d := newDurable(t, "", completionTasks)
	d.putCompletion(t, "on-error", loom.ResultError)
	d.putCompletion(t, "on-done", loom.ResultComplete)
	d.idle = true
	d.restart(t)
	a := d.submitA(t, loom.Values{"n": 4, "fail": -1})
	require.Equal(t, loom.StatusFailed, d.ended(t, a.ID).Status)
	_, err := d.eng.Retry(t.Context(), a.ID, loom.Values{"n": 4})
	require.NoError(t, err)
	d.until(t, "the retry to complete", func() bool { return d.task(t, a.ID).Status == loom.StatusCompleted })

	d.idle = false
	d.restart(t)
	var errs, dones []*loom.TaskInfo
	d.until(t, "both triggers", func() bool {
		errs, dones = d.created(t, "on-error"), d.created(t, "on-done")
		return len(errs) > 0 && len(dones) > 0
	})
	d.settle(t)
	require.Len(t, d.created(t, "on-error"), 1)
	require.Len(t, d.created(t, "on-done"), 1)
	require.Contains(t, errs[0].Input["why"], "a failed")
	require.Equal(t, 8.0, jsonValues(dones[0].Input)["doubled"])
}

// settle moves the clock a few poll intervals, so that the follower reads
// whatever the log holds.
func (d *durable) settle(t *testing.T) {
	t.Helper()
	for range 20 {
		d.clock.Advance(tick)
		time.Sleep(2 * time.Millisecond)
	}
}

// jsonValues passes v through JSON, so that numbers compare as float64.
func jsonValues(v loom.Values) loom.Values {
	out := loom.Values{}
	for k, x := range v {
		switch n := x.(type) {
		case int:
			out[k] = float64(n)
		case int64:
			out[k] = float64(n)
		default:
			out[k] = x
		}
	}
	return out
}
