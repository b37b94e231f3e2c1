package ui

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

func TestAttemptsOf(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	ended := at(20)
	// Attempt 1 is retried by policy, 2 loses its worker and is requeued,
	// 3 fails, 4 (after a retry by hand) completes.
	task := &loom.TaskInfo{ID: "t", Status: loom.StatusCompleted, Attempt: 4, Ended: &ended, WorkerID: "w"}
	for _, prefix := range []string{"", "task."} {
		ev := func(seq int64, typ string, attempt, s int, msg string) store.Event {
			return store.Event{Seq: seq, TaskID: "t", Type: prefix + typ, Attempt: attempt, Time: at(s), Msg: msg}
		}
		evs := []store.Event{
			ev(1, "created", 0, 0, ""),
			ev(2, "started", 1, 1, ""),
			ev(3, "retrying", 1, 2, "boom"),
			ev(4, "started", 2, 3, ""),
			ev(5, "requeued", 2, 9, "lease lapsed"),
			ev(6, "started", 3, 10, ""),
			ev(7, "failed", 3, 12, "boom again"),
			ev(8, "retried", 3, 15, ""),
			ev(9, "started", 4, 16, ""),
			ev(10, "completed", 4, 20, ""),
		}
		got := attemptsOf(task, evs)
		want := []struct {
			n        int
			outcome  string
			msg      string
			duration time.Duration
		}{
			{1, "retrying", "boom", time.Second},
			{2, "requeued", "lease lapsed", 6 * time.Second},
			{3, "failed", "boom again", 2 * time.Second},
			{4, "completed", "", 4 * time.Second},
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d attempts, want %d: %+v", prefix, len(got), len(want), got)
		}
		for i, w := range want {
			a := got[i]
			if a.N != w.n || a.Outcome != w.outcome || a.Msg != w.msg || a.Started == nil || a.Ended == nil || a.Ended.Sub(*a.Started) != w.duration || a.Running() {
				t.Errorf("%q: attempt %d = %+v, want %+v", prefix, i+1, a, w)
			}
		}
		if got[3].Worker != "w" {
			t.Errorf("%q: the latest attempt's worker is %q", prefix, got[3].Worker)
		}
	}
}

func TestAttemptsOfRunningAndLagging(t *testing.T) {
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// The task runs its first attempt, but its "started" event is not
	// read yet: the row comes from the task, still running.
	task := &loom.TaskInfo{ID: "t", Status: loom.StatusRunning, Attempt: 1, Started: &started}
	got := attemptsOf(task, []store.Event{{Seq: 1, TaskID: "t", Type: "created", Time: started}})
	if len(got) != 1 || !got[0].Running() || !got[0].Started.Equal(started) {
		t.Fatalf("attempts = %+v, want one running", got)
	}
	// Cancelled before it started: no attempt to show.
	task = &loom.TaskInfo{ID: "t", Status: loom.StatusCancelled}
	if got := attemptsOf(task, []store.Event{{Seq: 1, TaskID: "t", Type: "cancelled", Time: started}}); len(got) != 0 {
		t.Fatalf("attempts = %+v, want none", got)
	}
}

func TestFlowViewBlocksDownstream(t *testing.T) {
	noop := &loom.Task{Name: "noop", Handler: loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) { return in, nil })}
	ft, err := loom.NewFlow("f", loom.FlowDef{Steps: []loom.Step{
		{Name: "a", Task: noop},
		{Name: "b", Task: noop, DependsOn: []string{"a"}},
		{Name: "c", Task: noop, DependsOn: []string{"b"}},
		{Name: "d", Task: noop, DependsOn: []string{"a"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f := ft.Handler.(*loom.Flow)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	end := now.Add(time.Second)
	parent := &loom.TaskInfo{ID: "p", Status: loom.StatusFailed, Created: now, Ended: &end}
	kids := []*loom.TaskInfo{
		{ID: "1", ParentID: "p", Step: "a", Status: loom.StatusCompleted, Started: &now, Ended: &now},
		{ID: "2", ParentID: "p", Step: "b", Status: loom.StatusFailed, Started: &now, Ended: &end},
		{ID: "3", ParentID: "p", Step: "d", Status: loom.StatusCompleted, Started: &now, Ended: &end},
	}
	fv := buildFlowView("", parent, f, kids, end)
	got := map[string]string{}
	var order []string
	for _, s := range fv.Steps {
		got[s.Name] = s.Status
		order = append(order, s.Name)
	}
	want := map[string]string{"a": "completed", "b": "failed", "c": "blocked", "d": "completed"}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("step %s is %q, want %q", k, got[k], w)
		}
	}
	if len(fv.Failed) != 1 || fv.Failed[0] != "b" || len(fv.Blocked) != 1 || fv.Blocked[0] != "c" {
		t.Errorf("failed %q, blocked %q; want [b], [c]", fv.Failed, fv.Blocked)
	}
	if len(fv.Graph.Edges) != 3 {
		t.Errorf("%d edges, want 3", len(fv.Graph.Edges))
	}
	if want := f.Order(); !slices.Equal(order, want) {
		t.Errorf("steps in order %q, want the flow's %q", order, want)
	}
}
