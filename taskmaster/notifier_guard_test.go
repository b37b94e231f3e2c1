package taskmaster_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom/internal/netguard"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/taskmaster"
)

// TestNotifierGuardedClient: with the client a server passes, a notifier
// pointed at a loopback address fails its delivery, naming the option
// that allows it, and the address is never reached.
func TestNotifierGuardedClient(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var reached atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	t.Cleanup(srv.Close)
	tm, err := taskmaster.New(taskmaster.Config{Engine: f.eng, Store: f.st, Clock: f.clock, Logger: quiet(), HTTPClient: netguard.Client(false)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tm.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	_, err = tm.PutNotifier(t.Context(), &store.Notifier{Name: "ops", URL: srv.URL, MaxAttempts: 1})
	require.NoError(t, err)
	_, err = tm.CreateCheck(t.Context(), &store.Check{Name: "c", Period: time.Second})
	require.NoError(t, err)
	f.clock.Advance(time.Second)
	require.Eventually(t, func() bool {
		ds, err := tm.Deliveries(t.Context(), 0, 10)
		require.NoError(t, err)
		if len(ds) == 1 && ds[0].Status == store.DeliveryFailed {
			require.True(t, strings.Contains(ds[0].LastError, "--allow-private-net"), ds[0].LastError)
			return true
		}
		f.clock.Advance(time.Second)
		return false
	}, 5*time.Second, 5*time.Millisecond)
	require.Zero(t, reached.Load())
}
