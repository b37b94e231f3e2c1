package ui_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/ui"
	"github.com/loomhq/loom/ui/internal/memstore"
)

// benchTasks is how many tasks the rendering benchmarks put in the store.
const benchTasks = 100_000

// openBenchStore opens the store the rendering benchmarks fill.
func openBenchStore(b *testing.B) store.Store {
	b.Helper()
	return memstore.New()
}

// benchUI fills a store with n tasks of mixed statuses and types plus one
// flow of steps steps, and returns the UI over it and the flow's id.
func benchUI(b *testing.B, n, steps int) (http.Handler, string) {
	b.Helper()
	ctx := context.Background()
	st := openBenchStore(b)
	now := time.Now()
	statuses := []loom.Status{loom.StatusCompleted, loom.StatusCompleted, loom.StatusCompleted, loom.StatusFailed, loom.StatusPending, loom.StatusRunning}
	batch := make([]*loom.TaskInfo, 0, 1000)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if _, err := st.InsertTasks(ctx, &store.InsertTasksParams{Tasks: batch, Now: now}); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	for i := range n {
		created := now.Add(-time.Duration(n-i) * time.Second)
		t := &loom.TaskInfo{
			Type: fmt.Sprintf("type-%d", i%7), Queue: fmt.Sprintf("q%d", i%3),
			Status: statuses[i%len(statuses)], Created: created, RunAt: created,
			Input: loom.Values{"i": i, "name": "task <" + fmt.Sprint(i) + ">"},
		}
		if t.Status.Terminal() {
			started, ended := created.Add(time.Millisecond), created.Add(50*time.Millisecond)
			t.Started, t.Ended, t.Attempt = &started, &ended, 1
			if t.Status == loom.StatusFailed {
				t.Msg, t.Result = "boom", loom.ResultError
			} else {
				t.Result, t.Output = loom.ResultComplete, loom.Values{"ok": true}
			}
		}
		batch = append(batch, t)
		if len(batch) == cap(batch) {
			flush()
		}
	}
	flush()

	res, err := st.InsertTasks(ctx, &store.InsertTasksParams{Now: now, Tasks: []*loom.TaskInfo{{
		Type: "bigflow", Status: loom.StatusRunning, Created: now.Add(-time.Minute), RunAt: now.Add(-time.Minute),
	}}})
	if err != nil {
		b.Fatal(err)
	}
	flowID := res[0].Task.ID
	for i := range steps {
		created := now.Add(-time.Minute + time.Duration(i)*100*time.Millisecond)
		started, ended := created.Add(10*time.Millisecond), created.Add(90*time.Millisecond)
		t := &loom.TaskInfo{
			Type: "step", ParentID: flowID, Step: fmt.Sprintf("step-%03d", i), Status: loom.StatusCompleted,
			Created: created, RunAt: created, Started: &started, Ended: &ended, Attempt: 1, Result: loom.ResultComplete,
		}
		if i == steps/2 {
			t.Status, t.Result, t.Msg = loom.StatusFailed, loom.ResultError, "step failed"
		}
		batch = append(batch, t)
	}
	flush()

	e, err := engine.New(engine.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	return ui.New(ui.Config{Engine: e}), flowID
}

func benchGet(b *testing.B, h http.Handler, path string) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d\n%s", path, rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// BenchmarkTaskListFirstPage renders the task list's first page with
// 100,000 tasks in the store.
func BenchmarkTaskListFirstPage(b *testing.B) {
	h, _ := benchUI(b, benchTasks, 0)
	benchGet(b, h, "/tasks")
}

// BenchmarkTaskListFiltered renders the first page of failed tasks of one
// type among 100,000.
func BenchmarkTaskListFiltered(b *testing.B) {
	h, _ := benchUI(b, benchTasks, 0)
	benchGet(b, h, "/tasks?status=failed&type=type-3")
}

// BenchmarkFlowDetail200Steps renders the detail of a flow of 200 steps,
// one failed, with 100,000 other tasks in the store.
func BenchmarkFlowDetail200Steps(b *testing.B) {
	h, id := benchUI(b, benchTasks, 200)
	benchGet(b, h, "/tasks/"+id)
}
