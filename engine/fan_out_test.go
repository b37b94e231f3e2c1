package engine_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/sqlite"
)

// fanFlow builds a one-step flow mapping item over the input "items".
func fanFlow(t testing.TB, name string, item *loom.Task, fo loom.FanOut) *loom.Task {
	t.Helper()
	fo.Over = "items"
	f, err := loom.NewFlow(name, loom.FlowDef{
		Inputs: []string{"items", "prefix"},
		Steps: []loom.Step{{
			Name: "map", Task: item, FanOut: &fo,
			Requires: map[string]string{"items": "items", "prefix": "prefix"},
			Provides: map[string]string{"results": "results", "failed": "failed"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func itemList(n int) []any {
	items := make([]any, n)
	for i := range items {
		items[i] = i
	}
	return items
}

// Each item of a durable fan-out is a child task of the step, named
// step[k], with the item in its input; at most Parallelism run at once,
// and the step's output lists the results in the list's order.
func TestFanOutItemsAreChildTasks(t *testing.T) {
	t.Parallel()
	var running, peak atomic.Int32
	item := loom.NewTask("fan-item", loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		return loom.Values{"v": fmt.Sprint(in["prefix"], in["item"])}, nil
	}))
	flow := fanFlow(t, "fan-children", item, loom.FanOut{Parallelism: 3})
	te := setup(t, nil, engine.Config{Workers: 8}, flow)
	info := te.submit(t, &engine.SubmitParams{Type: flow.Name, Input: loom.Values{"items": itemList(12), "prefix": "x"}})
	got := te.wait(t, info.ID)
	if got.Status != loom.StatusCompleted {
		t.Fatalf("flow %s: %s", got.Status, got.Msg)
	}
	res := got.Output["results"].([]any)
	for k, r := range res {
		if v := r.(map[string]any)["v"]; v != fmt.Sprintf("x%d", k) {
			t.Errorf("results[%d] = %v, want x%d", k, v, k)
		}
	}
	if p := peak.Load(); p > 3 || p < 1 {
		t.Errorf("peak %d items at once, want at most Parallelism 3", p)
	}
	steps, err := te.Children(context.Background(), info.ID)
	if err != nil || len(steps) != 1 {
		t.Fatalf("steps %v, %v", steps, err)
	}
	items, err := te.Children(context.Background(), steps[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 12 {
		t.Fatalf("%d item tasks, want 12", len(items))
	}
	seen := map[string]bool{}
	for _, it := range items {
		seen[it.Step] = true
		if it.Type != "fan-item" || it.Status != loom.StatusCompleted || it.Input["prefix"] != "x" {
			t.Errorf("item %s: type %s, %s, input %v", it.Step, it.Type, it.Status, it.Input)
		}
	}
	for k := range 12 {
		if !seen[fmt.Sprintf("map[%d]", k)] {
			t.Errorf("no item task map[%d]", k)
		}
	}
}

// Under FailFast a failing item is tried as often as its own policy says
// and no more, and items that completed never run again.
func TestFanOutFailFastRetriesOnlyTheItem(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := map[string]int{}
	item := loom.NewTask("fan-flaky", loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		k := fmt.Sprint(in["item"])
		mu.Lock()
		calls[k]++
		mu.Unlock()
		if k == "2" {
			return nil, errors.New("item two is broken")
		}
		return loom.Values{}, nil
	}))
	item.Retry = &loom.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Millisecond, BackoffFactor: 1}
	flow := fanFlow(t, "fan-failfast", item, loom.FanOut{Parallelism: 1})
	te := setup(t, nil, engine.Config{}, flow)
	info := te.submit(t, &engine.SubmitParams{Type: flow.Name, Input: loom.Values{"items": itemList(5), "prefix": ""}})
	got := te.wait(t, info.ID)
	if got.Status != loom.StatusFailed {
		t.Fatalf("flow %s, want failed", got.Status)
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]int{"0": 1, "1": 1, "2": 3}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Fatalf("calls by item %v, want %v (the failed item 3 times, good ones once, none after it)", calls, want)
	}
}

// A fan-out step's items run on the workers of the flow's queue even when
// they are elsewhere: each gets its item in its input.
func TestFanOutOnExternalQueue(t *testing.T) {
	t.Parallel()
	b := newBus(t)
	var seen sync.Map
	h := loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
		seen.Store(fmt.Sprint(in["item"]), true)
		return loom.Values{"twice": in["item"].(float64) * 2}, nil
	})
	// The engine knows the flow; the item handler it holds is never run.
	// Its task is named flow/step, as a flow file names a step's task.
	local := loom.NewTask("fan-remote/map", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
		return nil, errors.New("ran on the server")
	}))
	flow := fanFlow(t, "fan-remote", local, loom.FanOut{Parallelism: 2})
	te := setup(t, nil, engine.Config{Bus: b, Queues: []engine.Queue{{Name: loom.DefaultQueue}, {Name: "remote", External: true}}}, flow)
	startWorker(t, b, "remote", "fan-remote/map", h)
	info := te.submit(t, &engine.SubmitParams{Type: flow.Name, Queue: "remote", Input: loom.Values{"items": itemList(4), "prefix": ""}})
	got := te.wait(t, info.ID)
	if got.Status != loom.StatusCompleted {
		t.Fatalf("flow %s: %s", got.Status, got.Msg)
	}
	for k, r := range got.Output["results"].([]any) {
		if v := r.(map[string]any)["twice"]; v != float64(2*k) {
			t.Errorf("results[%d] = %v, want %d", k, v, 2*k)
		}
	}
	for k := range 4 {
		if _, ok := seen.Load(strconv.Itoa(k)); !ok {
			t.Errorf("item %d never reached the worker", k)
		}
	}
}

// Environment of TestFanOutCrashHelperProcess.
const (
	crashFanDBEnv  = "LOOM_TEST_CRASH_FAN_DB"
	crashFanLogEnv = "LOOM_TEST_CRASH_FAN_LOG"
	crashFanItems  = 1000
)

// TestFanOutCrashRerunsOnlyUnfinishedItems runs a durable fan-out of
// 1,000 items in a child process, kills it with SIGKILL midway, and runs
// it to the end in another: no item the store had recorded completed runs
// again, and only the few that were running at the kill run twice.
func TestFanOutCrashRerunsOnlyUnfinishedItems(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, log := filepath.Join(dir, "loom.db"), filepath.Join(dir, "runs.log")
	child := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFanOutCrashHelperProcess$")
		cmd.Env = append(os.Environ(), crashFanDBEnv+"="+db, crashFanLogEnv+"="+log)
		return cmd
	}
	first := child()
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	for len(readRuns(t, log)) < crashFanItems*2/5 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	ranBefore := readRuns(t, log)

	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	completedBefore := map[int]bool{}
	flowID := ""
	items, stepID := itemsOf(t, st)
	for _, it := range items {
		if it.Status == loom.StatusCompleted {
			k, _ := strconv.Atoi(fmt.Sprint(it.Input["item"]))
			completedBefore[k] = true
		}
	}
	if s, err := st.GetTask(ctx, stepID); err == nil {
		flowID = s.ParentID
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if len(completedBefore) == 0 || len(completedBefore) == crashFanItems {
		t.Fatalf("%d items completed at the kill: not midway", len(completedBefore))
	}

	if out, err := child().CombinedOutput(); err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	runs := readRuns(t, log)
	st, err = sqlite.Open(ctx, sqlite.Config{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	flow, err := st.GetTask(ctx, flowID)
	if err != nil {
		t.Fatal(err)
	}
	if flow.Status != loom.StatusCompleted {
		t.Fatalf("flow %s: %s", flow.Status, flow.Msg)
	}
	if res := flow.Output["results"].([]any); len(res) != crashFanItems {
		t.Fatalf("%d results, want %d", len(res), crashFanItems)
	}
	reruns := 0
	for k := range crashFanItems {
		switch n := runs[k]; {
		case n == 0:
			t.Errorf("item %d never ran", k)
		case n > 1 && completedBefore[k]:
			t.Errorf("item %d ran %d times though it had completed before the kill", k, n)
		case n > 1:
			reruns += n - 1
			t.Logf("item %d ran %d times (%d before the kill)", k, n, ranBefore[k])
		}
	}
	unfinished := 0
	for k := range ranBefore {
		if !completedBefore[k] {
			unfinished++
		}
	}
	t.Logf("killed after %d items ran, %d recorded completed; %d ran but had not completed; re-runs after restart: %d",
		len(ranBefore), len(completedBefore), unfinished, reruns)
	if reruns > unfinished {
		t.Errorf("%d re-runs, but only %d items had run without completing", reruns, unfinished)
	}
}

// itemsOf returns the items of the one fan-out step in st, and its id.
func itemsOf(t *testing.T, st store.Store) ([]*loom.TaskInfo, string) {
	t.Helper()
	ctx := context.Background()
	page, err := st.ListTasks(ctx, &store.ListTasksParams{Type: "crash-fan/map[]", Limit: 10})
	if err != nil || len(page.Tasks) != 1 {
		t.Fatalf("fan-out step: %v %v", page, err)
	}
	items, err := st.ListChildren(ctx, page.Tasks[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return items, page.Tasks[0].ID
}

// readRuns counts the runs of each item in the log the helper writes.
func readRuns(t *testing.T, path string) map[int]int {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	runs := map[int]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, err := strconv.Atoi(sc.Text()); err == nil {
			runs[k]++
		}
	}
	return runs
}

// TestFanOutCrashHelperProcess is the child of
// TestFanOutCrashRerunsOnlyUnfinishedItems: it submits the fan-out if the
// database has none, runs an engine whose items log their runs, and exits
// 0 once the flow has ended.
func TestFanOutCrashHelperProcess(t *testing.T) {
	db, logPath := os.Getenv(crashFanDBEnv), os.Getenv(crashFanLogEnv)
	if db == "" {
		t.Skip("run by TestFanOutCrashRerunsOnlyUnfinishedItems")
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	item := loom.NewTask("crash-item", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
		if _, err := fmt.Fprintf(logf, "%v\n", in["item"]); err != nil {
			return nil, err
		}
		time.Sleep(time.Millisecond)
		return loom.Values{"item": in["item"]}, nil
	}))
	flow := fanFlow(t, "crash-fan", item, loom.FanOut{Parallelism: 8})
	e, err := engine.New(engine.Config{
		Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Workers: 8,
		LeaseDuration: 2 * time.Second, ReapInterval: 20 * time.Millisecond, PollInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Register(flow); err != nil {
		t.Fatal(err)
	}
	page, err := st.ListTasks(ctx, &store.ListTasksParams{Type: flow.Name})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	if len(page.Tasks) == 0 {
		info, _, err := e.Submit(ctx, &engine.SubmitParams{Type: flow.Name, Input: loom.Values{"items": itemList(crashFanItems), "prefix": ""}})
		if err != nil {
			t.Fatal(err)
		}
		id = info.ID
	} else {
		id = page.Tasks[0].ID
	}
	go func() { _ = e.Run(ctx) }()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := e.Wait(wctx, id); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// Under CollectAndContinue every item runs, and the step completes with
// the failures listed beside the results.
func TestFanOutCollectAndContinue(t *testing.T) {
	t.Parallel()
	item := loom.NewTask("fan-odd", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
		if int(in["item"].(float64))%2 == 1 {
			return nil, loom.Permanent(errors.New("odd"))
		}
		return loom.Values{"ok": true}, nil
	}))
	f, err := loom.NewFlow("fan-collect", loom.FlowDef{
		Inputs: []string{"items"},
		Steps: []loom.Step{{Name: "map", Task: item, FanOut: &loom.FanOut{Over: "items", OnFailure: loom.CollectAndContinue},
			Provides: map[string]string{"results": "results", "errors": "errors", "failed": "failed"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	te := setup(t, nil, engine.Config{}, f)
	info := te.submit(t, &engine.SubmitParams{Type: "fan-collect", Input: loom.Values{"items": itemList(4)}})
	got := te.wait(t, info.ID)
	if got.Status != loom.StatusCompleted {
		t.Fatalf("flow %s: %s", got.Status, got.Msg)
	}
	errs := got.Output["errors"].([]any)
	if got.Output["failed"] != 2.0 || errs[0] != "" || errs[1] != "odd" || errs[3] != "odd" || got.Output["results"].([]any)[1] != nil {
		t.Fatalf("output %v, want items 1 and 3 failed with their errors", got.Output)
	}
}
