package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

var runStateTests = []test{
	{"SaveLoad", func(t *testing.T, s store.Store) {
		_, err := s.LoadRun(ctx(t), "run-1")
		require.ErrorIs(t, err, loom.ErrNotFound)

		run := loom.RunState{
			RunID: "run-1", Task: "flow", Status: loom.StatusRunning, Attempts: 1, Started: base,
			Input: loom.Values{"x": 1.0},
			Steps: map[string]loom.StepState{"a": {Name: "a", Status: loom.StatusCompleted, Attempts: 1, Output: loom.Values{"y": 2.0}}},
		}
		require.NoError(t, s.SaveRun(ctx(t), run))
		require.NoError(t, s.SaveStep(ctx(t), "run-1", loom.StepState{Name: "b", Status: loom.StatusRunning, Attempts: 1, Started: at(time.Second)}))
		got, err := s.LoadRun(ctx(t), "run-1")
		require.NoError(t, err)
		require.Equal(t, "flow", got.Task)
		require.Equal(t, loom.StatusRunning, got.Status)
		require.Equal(t, loom.Values{"x": 1.0}, got.Input)
		requireTime(t, base, got.Started, "Started")
		require.Len(t, got.Steps, 2)
		require.Equal(t, loom.Values{"y": 2.0}, got.Steps["a"].Output)
		require.Equal(t, loom.StatusRunning, got.Steps["b"].Status)
		requireTime(t, at(time.Second), got.Steps["b"].Started, "step Started")

		run.Status, run.Ended, run.Output, run.Steps = loom.StatusCompleted, at(time.Minute), loom.Values{"z": 3.0}, nil
		require.NoError(t, s.SaveRun(ctx(t), run))
		require.NoError(t, s.SaveStep(ctx(t), "run-1", loom.StepState{Name: "b", Status: loom.StatusFailed, Error: "boom"}))
		got, err = s.LoadRun(ctx(t), "run-1")
		require.NoError(t, err)
		require.Equal(t, loom.StatusCompleted, got.Status)
		require.Equal(t, loom.Values{"z": 3.0}, got.Output)
		requireTime(t, at(time.Minute), got.Ended, "Ended")
		require.Len(t, got.Steps, 2, "nil Steps keeps the saved steps")
		require.Equal(t, loom.StatusFailed, got.Steps["b"].Status)
		require.Equal(t, "boom", got.Steps["b"].Error)

		run.Steps = map[string]loom.StepState{"c": {Name: "c", Status: loom.StatusSkipped}}
		require.NoError(t, s.SaveRun(ctx(t), run))
		got, err = s.LoadRun(ctx(t), "run-1")
		require.NoError(t, err)
		require.Len(t, got.Steps, 1, "non-nil Steps replace the saved steps")
		require.Equal(t, loom.StatusSkipped, got.Steps["c"].Status)
	}},
	{"ParentRun", func(t *testing.T, s store.Store) {
		require.NoError(t, s.SaveRun(ctx(t), loom.RunState{RunID: "child", ParentRunID: "parent", Task: "step", Status: loom.StatusFailed, Error: "bad"}))
		got, err := s.LoadRun(ctx(t), "child")
		require.NoError(t, err)
		require.Equal(t, "parent", got.ParentRunID)
		require.Equal(t, "bad", got.Error)
		require.Empty(t, got.Steps)
		_, err = s.LoadRun(ctx(t), "parent")
		require.True(t, errors.Is(err, store.ErrNotFound))
	}},
}

var idempotencyTests = []test{
	{"Fresh", func(t *testing.T, s store.Store) {
		rec, ok, err := s.AcquireKey(ctx(t), "k", "run-1", base, time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, "k", rec.Key)
		require.Equal(t, "run-1", rec.RunID)
		require.Equal(t, loom.StatusRunning, rec.Status)
		requireTime(t, at(time.Minute), rec.LockedUntil, "LockedUntil")
		require.Nil(t, rec.Result)
	}},
	{"InFlight", func(t *testing.T, s store.Store) {
		_, ok, err := s.AcquireKey(ctx(t), "k", "run-1", base, time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		rec, ok, err := s.AcquireKey(ctx(t), "k", "run-2", at(30*time.Second), time.Minute)
		require.NoError(t, err)
		require.False(t, ok)
		require.Equal(t, "run-1", rec.RunID)
		require.Equal(t, loom.StatusRunning, rec.Status)
		require.Nil(t, rec.Result)
		rec, ok, err = s.AcquireKey(ctx(t), "k", "run-1", at(30*time.Second), time.Minute)
		require.NoError(t, err)
		require.True(t, ok, "the holder takes its key again")
		requireTime(t, at(90*time.Second), rec.LockedUntil, "renewed lock")
	}},
	{"LapsedLock", func(t *testing.T, s store.Store) {
		_, _, err := s.AcquireKey(ctx(t), "k", "run-1", base, time.Minute)
		require.NoError(t, err)
		rec, ok, err := s.AcquireKey(ctx(t), "k", "run-2", at(time.Minute), time.Minute)
		require.NoError(t, err)
		require.True(t, ok, "the lock lapsed")
		require.Equal(t, "run-2", rec.RunID)
		requireTime(t, at(2*time.Minute), rec.LockedUntil, "LockedUntil")
		rec, ok, err = s.AcquireKey(ctx(t), "k", "run-3", at(90*time.Second), time.Minute)
		require.NoError(t, err)
		require.False(t, ok)
		require.Equal(t, "run-2", rec.RunID)
	}},
	{"Completed", func(t *testing.T, s store.Store) {
		_, _, err := s.AcquireKey(ctx(t), "k", "run-1", base, time.Minute)
		require.NoError(t, err)
		result := &loom.Result{RunID: "run-1", Name: "pay", Status: loom.StatusCompleted, Output: loom.Values{"receipt": "r-9"}, Attempts: 1, Started: base, Ended: at(time.Second)}
		require.NoError(t, s.CompleteKey(ctx(t), "k", result, at(time.Hour)))

		rec, ok, err := s.AcquireKey(ctx(t), "k", "run-2", at(30*time.Minute), time.Minute)
		require.NoError(t, err)
		require.False(t, ok)
		require.Equal(t, loom.StatusCompleted, rec.Status)
		require.Equal(t, "run-1", rec.RunID)
		requireTime(t, at(time.Hour), rec.ExpiresAt, "ExpiresAt")
		require.NotNil(t, rec.Result)
		require.Equal(t, loom.Values{"receipt": "r-9"}, rec.Result.Output)
		require.Equal(t, "pay", rec.Result.Name)
		require.Equal(t, 1, rec.Result.Attempts)
		requireTime(t, at(time.Second), rec.Result.Ended, "Result.Ended")

		rec, ok, err = s.AcquireKey(ctx(t), "k", "run-3", at(time.Hour), time.Minute)
		require.NoError(t, err)
		require.True(t, ok, "an expired record is taken again")
		require.Equal(t, "run-3", rec.RunID)
		require.Equal(t, loom.StatusRunning, rec.Status)
		require.Nil(t, rec.Result)
	}},
	{"KeptFailure", func(t *testing.T, s store.Store) {
		_, _, err := s.AcquireKey(ctx(t), "k", "run-1", base, time.Minute)
		require.NoError(t, err)
		require.NoError(t, s.CompleteKey(ctx(t), "k", &loom.Result{RunID: "run-1", Status: loom.StatusFailed, Err: errors.New("card declined")}, at(time.Hour)))
		rec, ok, err := s.AcquireKey(ctx(t), "k", "run-2", at(time.Minute), time.Minute)
		require.NoError(t, err)
		require.False(t, ok)
		require.Equal(t, loom.StatusFailed, rec.Status)
		require.Equal(t, "card declined", rec.Result.Message)
	}},
	{"Release", func(t *testing.T, s store.Store) {
		_, _, err := s.AcquireKey(ctx(t), "k", "run-1", base, time.Minute)
		require.NoError(t, err)
		require.NoError(t, s.ReleaseKey(ctx(t), "k"))
		rec, ok, err := s.AcquireKey(ctx(t), "k", "run-2", at(time.Second), time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, "run-2", rec.RunID)
		require.NoError(t, s.ReleaseKey(ctx(t), "never-taken"))
	}},
	{"Independent", func(t *testing.T, s store.Store) {
		_, ok, err := s.AcquireKey(ctx(t), "a", "run-1", base, time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		_, ok, err = s.AcquireKey(ctx(t), "b", "run-2", base, time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
	}},
}
