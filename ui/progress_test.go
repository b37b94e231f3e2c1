package ui_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// TestProgressRendered: a running task's progress is a bar in the task
// list (which then refreshes by itself) and on its page, with its message
// escaped; an ended task's page keeps the last attempt's.
func TestProgressRendered(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	// A queue no worker of the engine serves: the test plays the worker.
	res, err := v.store.InsertTasks(ctx, &store.InsertTasksParams{Tasks: []*loom.TaskInfo{{Type: "import", Queue: "ui-progress"}}})
	if err != nil {
		t.Fatal(err)
	}
	id := res[0].Task.ID
	claimed, err := v.store.ClaimTasks(ctx, &store.ClaimTasksParams{Queue: "ui-progress", Limit: 1, WorkerID: "w", LeaseUntil: time.Now().Add(time.Hour)})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	_, body := v.get(t, "/tasks?queue=ui-progress")
	if strings.Contains(body, "<progress") || strings.Contains(body, "every 2s") {
		t.Errorf("a task without progress has a bar, or the list polls:\n%s", body)
	}
	// An open task page is told that the progress moved, though no event
	// was appended.
	live, err := http.NewRequestWithContext(ctx, http.MethodGet, v.srv.URL+"/live?task="+id+"&fp=stale", nil)
	if err != nil {
		t.Fatal(err)
	}
	liveCtx, stopLive := context.WithTimeout(ctx, time.Minute)
	defer stopLive()
	resp, err := http.DefaultClient.Do(live.WithContext(liveCtx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewScanner(resp.Body)
	nextChanged := func() string {
		t.Helper()
		for events.Scan() {
			if line := events.Text(); strings.HasPrefix(line, "event: changed") {
				events.Scan()
				return strings.TrimPrefix(events.Text(), "data: ")
			}
		}
		t.Fatalf("event stream ended: %v", events.Err())
		return ""
	}
	first := nextChanged()
	if _, err := v.store.SetProgress(ctx, &store.SetProgressParams{Reports: []store.ProgressReport{{
		Lease: store.Lease{ID: id, Attempt: 1}, Progress: loom.Progress{Done: 4, Total: 10, Message: "<b>rows</b>"},
	}}}); err != nil {
		t.Fatal(err)
	}
	if second := nextChanged(); second == first {
		t.Errorf("the fingerprint did not change with the progress: %s", second)
	}
	stopLive()

	bar := `<progress max="10" value="4" aria-label="Progress: 4 of 10">4/10</progress> <span class="progress-n">40%</span>`
	_, body = v.get(t, "/tasks?queue=ui-progress")
	mustContain(t, body, bar, "&lt;b&gt;rows&lt;/b&gt;", "every 2s")
	_, body = v.get(t, "/tasks/"+id)
	mustContain(t, body, `id="task-progress"`, bar, "&lt;b&gt;rows&lt;/b&gt;")
	if strings.Contains(body, "<b>rows") {
		t.Error("progress message rendered as HTML")
	}

	if _, err := v.store.FinishTasks(ctx, &store.FinishTasksParams{Outcomes: []store.Outcome{{ID: id, Attempt: 1, Status: loom.StatusCompleted}}}); err != nil {
		t.Fatal(err)
	}
	_, body = v.get(t, "/tasks/"+id)
	mustContain(t, body, `id="task-progress"`, bar, "Progress of the last attempt")
	_, body = v.get(t, "/tasks?queue=ui-progress")
	if strings.Contains(body, "every 2s") {
		t.Error("the list keeps polling once no task runs")
	}
}
