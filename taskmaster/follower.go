package taskmaster

import (
	"context"
	"fmt"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// followerCursor names the event-log position of the follower.
const followerCursor = "taskmaster.follower"

// followBatch is how many events one read takes.
const followBatch = 500

// runFollower reads the store's event log from its stored cursor and
// reacts to every task that ended: completion triggers start their tasks,
// failures open alerts and successes resolve them. Each reaction stores
// the cursor with it (or, for triggers, after the task exists with a key
// derived from the event), so a crash repeats nothing that was done.
func (t *Taskmaster) runFollower(ctx context.Context) {
	seq, err := t.st.GetCursor(ctx, followerCursor)
	if err != nil {
		t.logger.Error("taskmaster: read follower cursor", "err", err)
	}
	for ctx.Err() == nil {
		evs, err := t.st.ListEvents(ctx, &store.ListEventsParams{AfterSeq: seq, Limit: followBatch})
		if err != nil {
			if ctx.Err() == nil {
				t.logger.Error("taskmaster: read events", "err", err)
			}
		}
		for _, e := range evs {
			if ctx.Err() != nil {
				return
			}
			t.follow(ctx, e)
			seq = e.Seq
		}
		if len(evs) > 0 {
			t.setCursor(ctx, store.Cursor{Name: followerCursor, Seq: seq})
		}
		if len(evs) == followBatch {
			continue
		}
		if !t.sleep(ctx, t.cfg.PollInterval, nil) {
			return
		}
	}
}

// follow reacts to one event.
func (t *Taskmaster) follow(ctx context.Context, e store.Event) {
	switch e.Type {
	case "completed", "failed", "expired", "cancelled":
	default:
		return
	}
	task, err := t.eng.Get(ctx, e.TaskID)
	if err != nil {
		t.logger.Error("taskmaster: read ended task", "task", e.TaskID, "err", err)
		return
	}
	task = endedAs(task, e)
	t.fireCompletionTriggers(ctx, e, task)
	cursor := &store.Cursor{Name: followerCursor, Seq: e.Seq}
	if task.ParentID != "" {
		return // a step: its flow's end speaks for it
	}
	kind := store.AlertTaskFailed
	if children, err := t.eng.Children(ctx, task.ID); err == nil && len(children) > 0 {
		kind = store.AlertFlowFailed
	}
	key := kind + ":" + task.Type
	switch e.Status {
	case loom.StatusFailed:
		what := "task"
		if kind == store.AlertFlowFailed {
			what = "flow"
		}
		t.raise(ctx, store.Alert{
			Key: key, Kind: kind, Subject: task.Type, Opened: e.Time,
			Message: fmt.Sprintf("%s %s (%s) failed after %d attempt(s): %s", what, task.Type, task.ID, task.Attempt, e.Msg),
			Data:    map[string]any{"task_id": task.ID, "type": task.Type, "attempts": task.Attempt},
		}, cursor, task.Type)
	case loom.StatusCompleted:
		t.resolve(ctx, key, fmt.Sprintf("%s %s completed again", task.Type, task.ID), cursor)
	}
}

// endedAs returns task as the event e says it ended. A task retried by
// hand after e (and perhaps ended again since, when the log is read late)
// is no longer in that state: the triggers and alerts must react to the
// end e records, not see a pending task or a later attempt's result.
func endedAs(task *loom.TaskInfo, e store.Event) *loom.TaskInfo {
	if task.Status == e.Status && (e.Attempt == 0 || task.Attempt == e.Attempt) {
		return task
	}
	ended := task.Clone()
	ended.Status, ended.Msg = e.Status, e.Msg
	if e.Attempt > 0 {
		ended.Attempt = e.Attempt
	}
	ended.Result = loom.ResultError
	if e.Status == loom.StatusCompleted {
		ended.Result = loom.ResultComplete
	} else {
		ended.Output = nil
	}
	return ended
}
