package taskmaster_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/taskmaster"
	"github.com/loomhq/loom/trigger"
)

func TestTriggerFilterLimits(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tm, _ := f.start(t)
	// A catastrophic pattern is refused when the trigger is saved.
	_, err := tm.PutTrigger(t.Context(), &store.Trigger{
		Name: "slow", Kind: store.TriggerEvent, Filter: `data.s matches "[a-z]{1000}x"`, Task: store.TaskTemplate{Type: "job"},
	})
	require.ErrorIs(t, err, taskmaster.ErrInvalid)
	require.ErrorContains(t, err, "over the limit of 128")

	for _, name := range []string{"a", "b"} {
		_, err = tm.PutTrigger(t.Context(), &store.Trigger{
			Name: name, Kind: store.TriggerEvent, Filter: `data.s matches "^x+$"`, Task: store.TaskTemplate{Type: "job"},
		})
		require.NoError(t, err)
	}
	ev := trigger.Event{Type: "e", Data: map[string]any{"s": "xxx"}}
	for range 3 {
		started, err := tm.Publish(t.Context(), ev, "")
		require.NoError(t, err)
		require.Len(t, started, 2)
	}
	require.Equal(t, 1, tm.CachedFilters(), "the filter is compiled once, not per event or trigger")

	// A string over the input limit matches nothing.
	started, err := tm.Publish(t.Context(), trigger.Event{Type: "e", Data: map[string]any{"s": strings.Repeat("x", trigger.MaxMatchInput+1)}}, "")
	require.NoError(t, err)
	require.Empty(t, started)
}
