package taskmaster_test

import (
	"context"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/sqlite"
	"github.com/loomhq/loom/taskmaster"
	"github.com/loomhq/loom/trigger"
)

// countTasks counts the tasks of type job.
func (f *fixture) countTasks(t *testing.T) int {
	t.Helper()
	page, err := f.st.ListTasks(t.Context(), &store.ListTasksParams{Limit: 1000})
	require.NoError(t, err)
	return len(page.Tasks)
}

// TestWebhookReplayStartsNothing: six identical signed requests make one
// task, whatever unsigned delivery id they carry; each replay answers
// with the first task. The same body is a new message once the window
// has passed.
func TestWebhookReplayStartsNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tm, _ := f.start(t)
	_, err := tm.PutTrigger(t.Context(), &store.Trigger{Name: "gh", Kind: store.TriggerEvent, Secret: "s3cret", Task: store.TaskTemplate{Type: "job"}})
	require.NoError(t, err)
	body := []byte(`{"ref":"main"}`)
	var first *taskmaster.Started
	for i := range 6 {
		hdr := http.Header{}
		hdr.Set(trigger.SignatureHeader, trigger.Sign([]byte("s3cret"), body))
		hdr.Set("X-GitHub-Delivery", "delivery-"+string(rune('a'+i)))
		s, err := tm.Webhook(t.Context(), "gh", hdr, body)
		require.NoError(t, err)
		require.NotNil(t, s.Task)
		if i == 0 {
			require.True(t, s.Created)
			require.False(t, s.Replayed)
			first = s
			continue
		}
		require.True(t, s.Replayed, "request %d", i)
		require.False(t, s.Created)
		require.Equal(t, first.Task.ID, s.Task.ID)
	}
	require.Equal(t, 1, f.countTasks(t))

	// Another body is another message.
	other := []byte(`{"ref":"dev"}`)
	hdr := http.Header{}
	hdr.Set(trigger.SignatureHeader, trigger.Sign([]byte("s3cret"), other))
	s, err := tm.Webhook(t.Context(), "gh", hdr, other)
	require.NoError(t, err)
	require.True(t, s.Created)

	f.clock.Advance(taskmaster.DefaultWebhookWindow + time.Second)
	hdr.Set(trigger.SignatureHeader, trigger.Sign([]byte("s3cret"), body))
	s, err = tm.Webhook(t.Context(), "gh", hdr, body)
	require.NoError(t, err)
	require.True(t, s.Created, "after the window the same body is a new delivery")
	require.Equal(t, 3, f.countTasks(t))
}

// TestTimestampedWebhookReplay: a timestamped signature replayed within
// its tolerance creates nothing; after it, it is refused as expired; a
// new timestamp over the same body is a new message.
func TestTimestampedWebhookReplay(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tm, _ := f.start(t)
	_, err := tm.PutTrigger(t.Context(), &store.Trigger{Name: "ts", Kind: store.TriggerEvent, Secret: "k", Task: store.TaskTemplate{Type: "job"}})
	require.NoError(t, err)
	body := []byte(`{"n":1}`)
	hdr := http.Header{}
	hdr.Set(trigger.TimestampedSignatureHeader, trigger.SignTimestamped([]byte("k"), body, f.clock.Now()))
	s, err := tm.Webhook(t.Context(), "ts", hdr, body)
	require.NoError(t, err)
	require.True(t, s.Created)
	f.clock.Advance(trigger.DefaultTolerance - time.Second)
	s, err = tm.Webhook(t.Context(), "ts", hdr, body)
	require.NoError(t, err)
	require.True(t, s.Replayed)
	require.Equal(t, 1, f.countTasks(t))
	f.clock.Advance(2 * time.Second)
	_, err = tm.Webhook(t.Context(), "ts", hdr, body)
	require.ErrorIs(t, err, trigger.ErrSignatureExpired)

	hdr.Set(trigger.TimestampedSignatureHeader, trigger.SignTimestamped([]byte("k"), body, f.clock.Now()))
	s, err = tm.Webhook(t.Context(), "ts", hdr, body)
	require.NoError(t, err)
	require.True(t, s.Created)
	require.Equal(t, 2, f.countTasks(t))
}

// TestWebhookThatStartedNothingMayComeAgain: a message a paused trigger
// refused is judged again when sent again.
func TestWebhookThatStartedNothingMayComeAgain(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tm, _ := f.start(t)
	tr := &store.Trigger{Name: "gh", Kind: store.TriggerEvent, Secret: "s", Filter: `data.go == true`, Task: store.TaskTemplate{Type: "job"}}
	_, err := tm.PutTrigger(t.Context(), tr)
	require.NoError(t, err)
	body := []byte(`{"go":false}`)
	hdr := http.Header{}
	hdr.Set(trigger.SignatureHeader, trigger.Sign([]byte("s"), body))
	for range 2 {
		s, err := tm.Webhook(t.Context(), "gh", hdr, body)
		require.NoError(t, err)
		require.False(t, s.Replayed)
		require.Equal(t, "filter did not match", s.Error)
	}
	tr.Filter = ""
	_, err = tm.PutTrigger(t.Context(), tr)
	require.NoError(t, err)
	s, err := tm.Webhook(t.Context(), "gh", hdr, body)
	require.NoError(t, err)
	require.True(t, s.Created)
}

// TestWebhookReplayWhileActedOn: the same message arriving while its
// first delivery is still starting its task answers ErrConflict and
// starts nothing; once the first is done, it is a replay.
func TestWebhookReplayWhileActedOn(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "loom.db")})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	// Once block is set, the next Admit (the first delivery's submit)
	// waits for release.
	var block atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	admit := func(*engine.SubmitParams) error {
		if block.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
		return nil
	}
	eng, err := engine.New(engine.Config{Store: st, Workers: -1, Logger: quiet(), Admit: admit})
	require.NoError(t, err)
	require.NoError(t, eng.Register(loom.NewTask("job", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
		return nil, nil
	}))))
	tm, err := taskmaster.New(taskmaster.Config{Engine: eng, Store: st, Logger: quiet()})
	require.NoError(t, err)
	_, err = tm.PutTrigger(t.Context(), &store.Trigger{Name: "gh", Kind: store.TriggerEvent, Secret: "s", Task: store.TaskTemplate{Type: "job"}})
	require.NoError(t, err)
	block.Store(true)

	body := []byte(`{"n":1}`)
	hdr := http.Header{}
	hdr.Set(trigger.SignatureHeader, trigger.Sign([]byte("s"), body))
	first := make(chan *taskmaster.Started, 1)
	go func() {
		s, err := tm.Webhook(context.Background(), "gh", hdr, body)
		if err != nil {
			t.Error(err)
		}
		first <- s
	}()
	<-entered
	_, err = tm.Webhook(t.Context(), "gh", hdr, body)
	require.ErrorIs(t, err, store.ErrConflict)
	close(release)
	s := <-first
	require.True(t, s.Created)
	again, err := tm.Webhook(t.Context(), "gh", hdr, body)
	require.NoError(t, err)
	require.True(t, again.Replayed)
	require.Equal(t, s.Task.ID, again.Task.ID)
}
