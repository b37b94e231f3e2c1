package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

var logTests = []test{
	{"AppendGet", func(t *testing.T, s store.Store) {
		task := insert(t, s, newTask("job"))[0]
		other := insert(t, s, newTask("job"))[0]
		require.NoError(t, s.AppendLogs(ctx(t), []store.LogChunk{
			{TaskID: task.ID, Attempt: 1, Time: at(1 * time.Second), Data: "a1\n"},
			{TaskID: other.ID, Attempt: 1, Time: at(1 * time.Second), Data: "other\n"},
			{TaskID: task.ID, Attempt: 1, Time: at(2 * time.Second), Data: "a2\n"},
		}))
		require.NoError(t, s.AppendLogs(ctx(t), []store.LogChunk{
			{TaskID: task.ID, Attempt: 2, Time: at(3 * time.Second), Data: "b1\n"},
		}))
		data := func(cs []store.LogChunk) []string {
			out := make([]string, len(cs))
			for i, c := range cs {
				out[i] = c.Data
			}
			return out
		}
		all, err := s.GetLogs(ctx(t), &store.GetLogsParams{TaskID: task.ID})
		require.NoError(t, err)
		require.Equal(t, []string{"a1\n", "a2\n", "b1\n"}, data(all))
		for i, c := range all {
			require.Equal(t, task.ID, c.TaskID)
			if i > 0 {
				require.Greater(t, c.Seq, all[i-1].Seq)
			}
		}
		require.Equal(t, 2, all[2].Attempt)
		requireTime(t, at(2*time.Second), all[1].Time, "chunk time")

		first, err := s.GetLogs(ctx(t), &store.GetLogsParams{TaskID: task.ID, Attempt: 1})
		require.NoError(t, err)
		require.Equal(t, []string{"a1\n", "a2\n"}, data(first))
		after, err := s.GetLogs(ctx(t), &store.GetLogsParams{TaskID: task.ID, AfterSeq: all[0].Seq})
		require.NoError(t, err)
		require.Equal(t, []string{"a2\n", "b1\n"}, data(after))
		limited, err := s.GetLogs(ctx(t), &store.GetLogsParams{TaskID: task.ID, Limit: 1})
		require.NoError(t, err)
		require.Equal(t, []string{"a1\n"}, data(limited))
		none, err := s.GetLogs(ctx(t), &store.GetLogsParams{TaskID: task.ID, AfterSeq: all[2].Seq})
		require.NoError(t, err)
		require.Empty(t, none)
	}},
	{"Streams", func(t *testing.T, s store.Store) {
		task := insert(t, s, newTask("job"))[0]
		require.NoError(t, s.AppendLogs(ctx(t), []store.LogChunk{
			{TaskID: task.ID, Attempt: 1, Time: at(1 * time.Second), Data: "out\n"},
			{TaskID: task.ID, Attempt: 1, Time: at(2 * time.Second), Stream: loom.LogStderr, Data: "err\n"},
			{TaskID: task.ID, Attempt: 1, Time: at(3 * time.Second), Stream: loom.LogSystem, Data: "note\n"},
			{TaskID: task.ID, Attempt: 1, Time: at(4 * time.Second), Stream: loom.LogStdout, Data: "out again\n"},
		}))
		all, err := s.GetLogs(ctx(t), &store.GetLogsParams{TaskID: task.ID})
		require.NoError(t, err)
		var got []string
		for _, c := range all {
			got = append(got, c.Stream+":"+c.Data)
		}
		// A chunk without a stream is stdout.
		require.Equal(t, []string{"stdout:out\n", "stderr:err\n", "system:note\n", "stdout:out again\n"}, got)

		err = s.AppendLogs(ctx(t), []store.LogChunk{
			{TaskID: task.ID, Attempt: 1, Data: "kept?\n"},
			{TaskID: task.ID, Attempt: 1, Stream: "stdin", Data: "x"},
		})
		require.ErrorIs(t, err, store.ErrInvalid)
		again, err := s.GetLogs(ctx(t), &store.GetLogsParams{TaskID: task.ID})
		require.NoError(t, err)
		require.Len(t, again, len(all), "a batch with a bad stream appends nothing")
	}},
	{"UnknownTask", func(t *testing.T, s store.Store) {
		err := s.AppendLogs(ctx(t), []store.LogChunk{{TaskID: "no-such-task", Attempt: 1, Time: base, Data: "x"}})
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.GetLogs(ctx(t), &store.GetLogsParams{TaskID: "no-such-task"})
		require.ErrorIs(t, err, store.ErrNotFound)
	}},
}
