package ui

import (
	"strings"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// attemptRow is one attempt of a task as the detail page lists it. The
// store keeps attempts only as events, so they are rebuilt from them.
type attemptRow struct {
	N       int
	Started *time.Time
	Ended   *time.Time
	Outcome string
	Msg     string
	Worker  string
}

// Running reports whether the attempt has not ended.
func (a attemptRow) Running() bool { return a.Started != nil && a.Ended == nil }

// eventKind is an event's type without the "task." prefix some stores
// give it, so "task.failed" and "failed" read the same.
func eventKind(e store.Event) string { return strings.TrimPrefix(e.Type, "task.") }

// attemptsOf rebuilds a task's attempts from its events, oldest first,
// filling the latest from the task itself when its events lag behind.
func attemptsOf(t *loom.TaskInfo, evs []store.Event) []attemptRow {
	var rows []attemptRow
	idx := map[int]int{}
	get := func(n int) *attemptRow {
		if i, ok := idx[n]; ok {
			return &rows[i]
		}
		idx[n] = len(rows)
		rows = append(rows, attemptRow{N: n})
		return &rows[len(rows)-1]
	}
	for _, e := range evs {
		if e.Attempt <= 0 {
			continue
		}
		switch k := eventKind(e); k {
		case "started":
			a := get(e.Attempt)
			tm := e.Time
			a.Started = &tm
		case "completed", "failed", "retrying", "cancelled", "expired", "requeued":
			a := get(e.Attempt)
			if a.Ended != nil {
				continue
			}
			if a.Started == nil && k != "cancelled" && k != "expired" {
				continue
			}
			tm := e.Time
			a.Ended, a.Outcome, a.Msg = &tm, k, e.Msg
		}
	}
	if t.Attempt > 0 {
		a := get(t.Attempt)
		if a.Started == nil && t.Started != nil {
			a.Started = t.Started
		}
		if a.Ended == nil && t.Status.Terminal() && t.Ended != nil && a.Started != nil {
			a.Ended, a.Outcome, a.Msg = t.Ended, string(t.Status), t.Msg
		}
		a.Worker = t.WorkerID
	}
	// Attempts cancelled before they started carry no row of their own.
	out := rows[:0]
	for _, a := range rows {
		if a.Started != nil {
			out = append(out, a)
		}
	}
	return out
}
