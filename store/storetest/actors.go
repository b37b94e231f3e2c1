package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// actorTests: who asked for a change is in its event's data as "actor",
// and nothing is when nobody is named.
var actorTests = []test{
	{"CreatedCancelledRetried", func(t *testing.T, s store.Store) {
		res, err := s.InsertTasks(ctx(t), &store.InsertTasksParams{Tasks: []*loom.TaskInfo{newTask("job"), newTask("job")}, Now: base, Actor: "ci"})
		require.NoError(t, err)
		a, b := res[0].Task, res[1].Task
		anon := insert(t, s, newTask("job"))[0]

		_, err = s.CancelTask(ctx(t), &store.CancelTaskParams{ID: a.ID, Now: at(time.Second), Actor: "ops"})
		require.NoError(t, err)
		_, err = s.RetryTask(ctx(t), &store.RetryTaskParams{ID: a.ID, Now: at(2 * time.Second), Actor: "alice"})
		require.NoError(t, err)

		require.Equal(t, []string{"ci", "ops", "alice"}, eventActors(t, s, a.ID))
		require.Equal(t, []string{"ci"}, eventActors(t, s, b.ID))
		require.Equal(t, []string{""}, eventActors(t, s, anon.ID))
	}},
}

// signalActorTest: a signal appends a "signalled" event naming the
// signal, with its sender as actor.
var signalActorTest = taskmasterTest{"SignalEvent", func(t *testing.T, s store.TaskmasterStore) {
	task := insert(t, s, newTask("wait"))[0]
	_, err := s.SendSignal(ctx(t), &store.SendSignalParams{TaskID: task.ID, Name: "approve", Now: at(time.Second), Actor: "ops"})
	require.NoError(t, err)
	evs, err := s.ListEvents(ctx(t), &store.ListEventsParams{TaskID: task.ID})
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.Equal(t, "signalled", evs[1].Type)
	require.Equal(t, "approve", evs[1].Msg)
	require.Equal(t, "ops", evs[1].Data["actor"])
}}

func init() { taskmasterTests = append(taskmasterTests, signalActorTest) }

// eventActors returns the "actor" of each of a task's events, "" where
// there is none.
func eventActors(t *testing.T, s store.Store, taskID string) []string {
	t.Helper()
	evs, err := s.ListEvents(ctx(t), &store.ListEventsParams{TaskID: taskID})
	require.NoError(t, err)
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i], _ = e.Data["actor"].(string)
	}
	return out
}
