package postgres_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/postgres"
)

// TestEventLogFollower follows the event log by its sequence numbers, as
// the taskmasters do, while several stores write at once: a reader that
// has seen an event never later finds an event numbered before it, so
// that a cursor skips nothing.
func TestEventLogFollower(t *testing.T) {
	t.Parallel()
	s, cfg := setup(t)
	const writers, rounds = 6, 40
	stores := []*postgres.Store{s}
	for range 2 {
		other, err := postgres.Open(t.Context(), cfg)
		require.NoError(t, err)
		defer other.Close()
		stores = append(stores, other)
	}

	var (
		wg   sync.WaitGroup
		stop = make(chan struct{})
		seen = map[int64]bool{}
		done = make(chan error, 1)
	)
	go func() {
		var cursor int64
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			evs, err := s.ListEvents(t.Context(), &store.ListEventsParams{AfterSeq: cursor, Limit: 50})
			if err != nil {
				done <- err
				return
			}
			for _, e := range evs {
				seen[e.Seq] = true
				cursor = e.Seq
			}
		}
	}()
	for w := range writers {
		st := stores[w%len(stores)]
		wg.Go(func() {
			for range rounds {
				_, err := st.InsertTasks(t.Context(), &store.InsertTasksParams{Tasks: []*loom.TaskInfo{{Type: "job"}, {Type: "job"}}})
				if !assertNoError(t, err) {
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	require.NoError(t, <-done)

	all, err := s.ListEvents(t.Context(), &store.ListEventsParams{})
	require.NoError(t, err)
	require.Len(t, all, writers*rounds*2)
	var cursor int64
	for seq := range seen {
		cursor = max(cursor, seq)
	}
	missed := 0
	for _, e := range all {
		if e.Seq <= cursor && !seen[e.Seq] {
			missed++
		}
	}
	require.Zero(t, missed, "events numbered before the cursor that the follower never saw")
}
