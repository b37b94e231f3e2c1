package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// deepInput is about a megabyte nested depth deep: {"a": {"a": …}, "pad"}.
func deepInput(depth int) loom.Values {
	pad := strings.Repeat("x", 100)
	v := map[string]any{"pad": pad}
	for range depth {
		v = map[string]any{"a": v, "pad": pad}
	}
	return loom.Values(v)
}

// TestLargeDeepTaskRendersBounded stores (bypassing the API's limits) a
// task whose input and output are a megabyte nested 9,000 deep: its page
// stays small and links to the raw JSON, which is served whole.
func TestLargeDeepTaskRendersBounded(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	in := deepInput(9000)
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) < 1_000_000 {
		t.Fatalf("input is %d bytes, want a megabyte", len(raw))
	}
	now := time.Now()
	ended := now
	res, err := v.store.InsertTasks(ctx, &store.InsertTasksParams{Now: now, Tasks: []*loom.TaskInfo{{
		Type: "echo", Status: loom.StatusCompleted, Result: loom.ResultComplete, Input: in, Output: in,
		Attributes: map[string]any{"deep": map[string]any(in)}, Started: &now, Ended: &ended, Attempt: 1,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	id := res[0].Task.ID

	code, body := v.get(t, "/tasks/"+id)
	if code != http.StatusOK {
		t.Fatalf("GET task: %d", code)
	}
	if len(body) > 2<<20 {
		t.Fatalf("the page is %d bytes, want under 2 MB", len(body))
	}
	t.Logf("a task with %d bytes of input nested 9,000 deep renders as %d bytes", len(raw), len(body))
	mustContain(t, body,
		`href="/tasks/`+id+`/input.json"`, `href="/tasks/`+id+`/output.json"`, `href="/tasks/`+id+`/attributes.json"`,
		"Cut short", "too large to edit here", `&#34;a&#34;: {…}`)
	if strings.Contains(body, `id="rerun-input"`) {
		t.Error("the page offers to edit a megabyte of input")
	}

	// The raw JSON is the whole value.
	for _, part := range []string{"input", "output"} {
		code, got := v.get(t, "/tasks/"+id+"/"+part+".json")
		if code != http.StatusOK {
			t.Fatalf("GET %s.json: %d", part, code)
		}
		if strings.TrimSpace(got) != string(raw) {
			t.Errorf("%s.json is %d bytes, not the stored %d", part, len(got), len(raw))
		}
	}
	if code, _ := v.get(t, "/tasks/nope/input.json"); code != http.StatusNotFound {
		t.Errorf("input.json of a missing task: %d", code)
	}
}

// TestFlowWithManyStepsRendersBounded stores a fan-out of 10,000 steps:
// its page draws the first 200, counts them all, and links to the task
// list of its steps.
func TestFlowWithManyStepsRendersBounded(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	now := time.Now()
	res, err := v.store.InsertTasks(ctx, &store.InsertTasksParams{Now: now, Tasks: []*loom.TaskInfo{{
		Type: "fanout", Status: loom.StatusFailed, Result: loom.ResultError, Msg: "items failed", Attempt: 1, Started: &now, Ended: &now,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	flowID := res[0].Task.ID
	const n = 10_000
	batch := make([]*loom.TaskInfo, 0, 1000)
	for i := range n {
		st, result := loom.StatusCompleted, loom.ResultComplete
		if i%2 == 1 {
			st, result = loom.StatusFailed, loom.ResultError
		}
		batch = append(batch, &loom.TaskInfo{
			Type: "echo", ParentID: flowID, Step: fmt.Sprintf("item-%05d", i), Status: st, Result: result,
			Created: now, RunAt: now, Started: &now, Ended: &now, Attempt: 1,
		})
		if len(batch) == cap(batch) {
			if _, err := v.store.InsertTasks(ctx, &store.InsertTasksParams{Now: now, Tasks: batch}); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}

	code, body := v.get(t, "/tasks/"+flowID)
	if code != http.StatusOK {
		t.Fatalf("GET flow: %d", code)
	}
	if len(body) > 512<<10 {
		t.Fatalf("the page of a flow of %d steps is %d bytes, want under 512 KB", n, len(body))
	}
	t.Logf("a flow of %d steps renders as %d bytes", n, len(body))
	mustContain(t, body, "5000 of 10000 done", "Showing the latest 200 of 10000 steps",
		`href="/tasks?parent=`+flowID+`&amp;steps=1"`, "and 4980 more")
	if got := strings.Count(body, `data-step="`); got != 200 {
		t.Errorf("%d steps drawn, want 200", got)
	}

	// The link lists the flow's steps, and only them.
	code, body = v.get(t, "/tasks?parent="+flowID+"&steps=1&limit=500")
	if code != http.StatusOK {
		t.Fatalf("GET steps: %d", code)
	}
	mustContain(t, body, "steps of")
	if got := strings.Count(body, `class="rowlink">item-`); got != 500 {
		t.Errorf("the step list shows %d steps, want a page of 500", got)
	}
	if strings.Contains(body, ">fanout<") {
		t.Error("the step list shows the flow itself")
	}
}
