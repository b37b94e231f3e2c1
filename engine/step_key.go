package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// A flow step whose task has Idempotency is keyed as a top-level run is
// (see DistributedExecutor): its child task carries the run's key as its
// idempotency_key. When the key is already held by another task (a step of
// another flow, or a run of the task on its own), the step does not run:
//
//   - the holder ended and its key still answers (completed, or failed
//     under KeepOnFailure, within the window): the step is recorded as
//     already ended with the holder's outcome, its Msg naming the holder;
//   - the holder ended and its key no longer answers: the key is taken
//     from it (Store.ReleaseTaskKey) and the flow advanced again, which
//     creates the step with the key;
//   - the holder still runs: the flow is advanced again once it ended.

// stepKey returns the idempotency key of a step's run with inputs in, and
// the settings governing it; key is empty when the step's task has no
// Idempotency.
func stepKey(s loom.Step, in loom.Values) (string, loom.Idempotency, error) {
	if s.Task == nil || s.Task.Idempotency == nil || s.FanOut != nil {
		return "", loom.Idempotency{}, nil
	}
	spec, err := loom.ResolveRun(s.Task, in)
	if err != nil {
		return "", loom.Idempotency{}, fmt.Errorf("step %q: %w", s.Name, err)
	}
	return spec.IdempotencyKey, spec.Idempotency, nil
}

// keyedSteps are the flows waiting for another task to end before one of
// their steps may take its key, by the holder's id.
type keyedSteps struct {
	mu      sync.Mutex
	waiting map[string]map[string]bool // holder id -> flow ids
}

// settleKeyedSteps handles the steps of flow parent whose insert found
// their idempotency key held by another task (see above). inserts are the
// tasks advance asked to insert, res what the store answered.
func (e *Engine) settleKeyedSteps(ctx context.Context, f *loom.Flow, parent *loom.TaskInfo, inserts []*loom.TaskInfo, res []store.InsertResult) error {
	var replays []*loom.TaskInfo
	for i, r := range res {
		want := inserts[i]
		held := r.Task
		if !r.Existing || want.IdempotencyKey == "" || held == nil || (held.ParentID == parent.ID && held.Step == want.Step) {
			continue
		}
		s, _ := f.Step(want.Step)
		_, idem, err := stepKey(s, want.Input)
		if err != nil {
			return err
		}
		now := e.clock.Now()
		switch {
		case !held.Status.Terminal():
			e.waitForHolder(ctx, held.ID, parent.ID)
		case keyAnswers(idem, held, now):
			ended := now
			replays = append(replays, &loom.TaskInfo{
				Type: want.Type, Queue: want.Queue, ParentID: parent.ID, Step: want.Step, Input: want.Input,
				Status: held.Status, Result: held.Result, Output: held.Output, Attempt: held.Attempt,
				Msg:     replayMsg(want.IdempotencyKey, held),
				Started: &ended, Ended: &ended, Timeout: parent.Timeout, MaxAttempts: max(held.Attempt, 1),
			})
		default:
			err := e.store.ReleaseTaskKey(ctx, &store.ReleaseTaskKeyParams{Key: want.IdempotencyKey, TaskID: held.ID, Now: now})
			if err != nil && !errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("step %q: take over idempotency key %q: %w", want.Step, want.IdempotencyKey, err)
			}
			e.flows.push(parent.ID)
		}
	}
	if len(replays) == 0 {
		return nil
	}
	if _, err := e.store.InsertTasks(ctx, &store.InsertTasksParams{Tasks: replays, Now: e.clock.Now()}); err != nil {
		return err
	}
	e.flows.push(parent.ID)
	return nil
}

// replayMsg is the Msg of a step answered by the task holding its key.
func replayMsg(key string, holder *loom.TaskInfo) string {
	msg := fmt.Sprintf("replayed: idempotency key %q answered by task %s", key, holder.ID)
	if holder.Msg != "" {
		msg += ": " + holder.Msg
	}
	return msg
}

// waitForHolder advances flow once task holder has ended. One wait per
// holder and flow runs at a time, however often the flow is advanced
// meanwhile; it ends with ctx (the engine's shutdown), and a restarted
// engine resumes the flow, which finds the holder again.
func (e *Engine) waitForHolder(ctx context.Context, holder, flow string) {
	k := &e.keyed
	k.mu.Lock()
	if k.waiting == nil {
		k.waiting = make(map[string]map[string]bool)
	}
	if k.waiting[holder] == nil {
		k.waiting[holder] = make(map[string]bool)
	}
	if k.waiting[holder][flow] {
		k.mu.Unlock()
		return
	}
	k.waiting[holder][flow] = true
	k.mu.Unlock()
	e.holderWaits.Add(1)
	go func() {
		defer e.holderWaits.Done()
		_, err := e.Wait(ctx, holder)
		k.mu.Lock()
		delete(k.waiting[holder], flow)
		if len(k.waiting[holder]) == 0 {
			delete(k.waiting, holder)
		}
		k.mu.Unlock()
		if err == nil {
			e.flows.push(flow)
		}
	}()
}
