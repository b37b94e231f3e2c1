package taskmaster_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/taskmaster"
	"github.com/loomhq/loom/trigger"
)

func TestLimits(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tm, _ := f.start(t)
	ctx := t.Context()

	// A signed webhook body nesting deeper than 64 levels is refused
	// before it is decoded; 64 levels are fine.
	_, err := tm.PutTrigger(ctx, &store.Trigger{Name: "gh", Kind: store.TriggerEvent, Secret: "s3cret", Task: store.TaskTemplate{Type: "job"}})
	require.NoError(t, err)
	for depth, ok := range map[int]bool{64: true, 65: false} {
		body := []byte(`{"a":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`)
		hdr := http.Header{}
		hdr.Set(trigger.SignatureHeader, trigger.Sign([]byte("s3cret"), body))
		_, err := tm.Webhook(ctx, "gh", hdr, body)
		if ok {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, taskmaster.ErrInvalid)
			require.ErrorContains(t, err, "deeper than 64")
		}
	}

	// Templates are held to the engine's ranges when stored, not when
	// they first fire.
	for field, tpl := range map[string]store.TaskTemplate{
		"max_attempts": {Type: "job", MaxAttempts: 1001},
		"priority":     {Type: "job", Priority: 1 << 40},
		"timeout":      {Type: "job", Timeout: "2562047h"},
	} {
		_, err := tm.PutTrigger(ctx, &store.Trigger{Name: "t", Kind: store.TriggerEvent, Task: tpl})
		require.ErrorIs(t, err, taskmaster.ErrInvalid)
		require.ErrorContains(t, err, field)
	}

	_, err = tm.CreateCheck(ctx, &store.Check{Name: "c", Period: taskmaster.MaxCheckPeriod + time.Second})
	require.ErrorIs(t, err, taskmaster.ErrInvalid)
	_, err = tm.CreateCheck(ctx, &store.Check{Name: "c", Period: time.Hour, Grace: taskmaster.MaxCheckPeriod + time.Second})
	require.ErrorIs(t, err, taskmaster.ErrInvalid)
	_, err = tm.CreateCheck(ctx, &store.Check{Name: "c", Period: taskmaster.MaxCheckPeriod, Grace: taskmaster.MaxCheckPeriod})
	require.NoError(t, err)

	_, err = tm.PutNotifier(ctx, &store.Notifier{Name: "n", URL: "http://127.0.0.1:1/", MaxAttempts: taskmaster.MaxDeliveryAttempts + 1})
	require.ErrorIs(t, err, taskmaster.ErrInvalid)
	_, err = tm.PutNotifier(ctx, &store.Notifier{Name: "n", URL: "http://127.0.0.1:1/", MaxAttempts: taskmaster.MaxDeliveryAttempts})
	require.NoError(t, err)
}
