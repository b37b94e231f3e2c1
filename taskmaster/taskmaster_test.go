package taskmaster_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/loomtest"
	"github.com/loomhq/loom/schedule"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/sqlite"
	"github.com/loomhq/loom/taskmaster"
	"github.com/loomhq/loom/trigger"
)

// fixture is a taskmaster over an engine without workers (tasks stay
// pending, where the tests count them) on a fresh SQLite store, all on a
// fake clock.
type fixture struct {
	clock *loomtest.FakeClock
	st    *sqlite.Store
	eng   *engine.Engine
}

func setup(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "loom.db")})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	clock := loomtest.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	eng, err := engine.New(engine.Config{Store: st, Clock: clock, Workers: -1, Logger: quiet()})
	require.NoError(t, err)
	require.NoError(t, eng.Register(loom.NewTask("job", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
		return nil, nil
	}))))
	return &fixture{clock: clock, st: st, eng: eng}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs a new Taskmaster until the test ends or stop is called.
func (f *fixture) start(t *testing.T) (*taskmaster.Taskmaster, func()) {
	t.Helper()
	tm, err := taskmaster.New(taskmaster.Config{Engine: f.eng, Store: f.st, Clock: f.clock, Logger: quiet()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tm.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	t.Cleanup(stop)
	return tm, stop
}

// runs returns the scheduled-time keys of schedule name's tasks, sorted.
func (f *fixture) runs(t *testing.T, name string) []string {
	t.Helper()
	page, err := f.st.ListTasks(t.Context(), &store.ListTasksParams{Text: taskmaster.ScheduleKeyPrefix + name + "@", Limit: 1000})
	require.NoError(t, err)
	var keys []string
	for _, task := range page.Tasks {
		keys = append(keys, task.IdempotencyKey)
	}
	slices.Sort(keys)
	return keys
}

func (f *fixture) waitRuns(t *testing.T, name string, n int) []string {
	t.Helper()
	var keys []string
	require.Eventually(t, func() bool {
		keys = f.runs(t, name)
		return len(keys) >= n
	}, 5*time.Second, time.Millisecond, "want %d runs", n)
	require.Len(t, keys, n)
	return keys
}

func TestScheduleFiresOnTheClockAndSurvivesARestart(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tm, stop := f.start(t)
	info, err := tm.CreateSchedule(t.Context(), &store.Schedule{
		Def:  schedule.Schedule{Name: "tick", Cron: "@every 10s", Overlap: schedule.OverlapAllow},
		Task: store.TaskTemplate{Type: "job"},
	})
	require.NoError(t, err)
	require.Len(t, info.Next, taskmaster.UpcomingCount)
	start := info.Cursor

	for i := 1; i <= 3; i++ {
		f.clock.Advance(10 * time.Second)
		f.waitRuns(t, "tick", i)
	}
	// The last run is recorded once the decision is stored.
	last := taskmaster.ScheduleKeyPrefix + schedule.Key("tick", start.Add(30*time.Second))
	require.Eventually(t, func() bool {
		info, err = tm.Schedule(t.Context(), "tick")
		require.NoError(t, err)
		return info.LastRun != nil && info.LastRun.IdempotencyKey == last
	}, 5*time.Second, time.Millisecond)

	// Down for 25s: the two runs due meanwhile are caught up on restart
	// (within the grace period), none doubled.
	stop()
	f.clock.Advance(25 * time.Second)
	f.start(t)
	keys := f.waitRuns(t, "tick", 5)
	for i, k := range keys {
		require.Equal(t, taskmaster.ScheduleKeyPrefix+schedule.Key("tick", start.Add(time.Duration(i+1)*10*time.Second)), k)
	}
}

func TestSchedulePauseResumeAndTrigger(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tm, _ := f.start(t)
	_, err := tm.CreateSchedule(t.Context(), &store.Schedule{
		Def: schedule.Schedule{Name: "p", Cron: "@every 10s", Overlap: schedule.OverlapAllow}, Task: store.TaskTemplate{Type: "job"},
	})
	require.NoError(t, err)
	info, err := tm.SetPaused(t.Context(), "p", true)
	require.NoError(t, err)
	require.Empty(t, info.Next)
	f.clock.Advance(35 * time.Second)
	task, err := tm.TriggerSchedule(t.Context(), "p")
	require.NoError(t, err)
	require.Equal(t, "job", task.Type)
	_, err = tm.SetPaused(t.Context(), "p", false)
	require.NoError(t, err)
	f.clock.Advance(10 * time.Second)
	// The scheduler, woken by the resume, may arm its timer only after the
	// clock moved; resuming again (a no-op) wakes it to look at the time.
	require.Eventually(t, func() bool {
		_, err := tm.SetPaused(t.Context(), "p", false)
		require.NoError(t, err)
		return len(f.runs(t, "p")) >= 2
	}, 5*time.Second, 5*time.Millisecond)
	keys := f.waitRuns(t, "p", 2) // the manual run and one after resuming
	require.Contains(t, keys[0]+keys[1], "manual:")

	_, err = tm.CreateSchedule(t.Context(), &store.Schedule{Def: schedule.Schedule{Name: "bad name", Cron: "@daily"}, Task: store.TaskTemplate{Type: "job"}})
	require.ErrorIs(t, err, taskmaster.ErrInvalid)
	_, err = tm.CreateSchedule(t.Context(), &store.Schedule{Def: schedule.Schedule{Name: "x", Cron: "61 * * * *"}, Task: store.TaskTemplate{Type: "job"}})
	require.ErrorIs(t, err, taskmaster.ErrInvalid)
	_, err = tm.CreateSchedule(t.Context(), &store.Schedule{Def: schedule.Schedule{Name: "y", Cron: "@daily"}, Task: store.TaskTemplate{Type: "nope"}})
	require.ErrorIs(t, err, taskmaster.ErrInvalid)
}

func TestBackfillIsIdempotent(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tm, _ := f.start(t)
	_, err := tm.CreateSchedule(t.Context(), &store.Schedule{
		Def: schedule.Schedule{Name: "daily", Cron: "0 3 * * *", TimeZone: "Europe/Berlin"}, Task: store.TaskTemplate{Type: "job"},
	})
	require.NoError(t, err)
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, 30)
	backfill := func() *store.Backfill {
		b, err := tm.StartBackfill(t.Context(), &store.Backfill{Schedule: "daily", From: from, To: to, Rate: 7})
		require.NoError(t, err)
		var got *store.Backfill
		require.Eventually(t, func() bool {
			f.clock.Advance(time.Second) // the rate limit waits on the clock
			got, err = tm.Backfill(t.Context(), b.ID)
			require.NoError(t, err)
			return got.Done
		}, 5*time.Second, time.Millisecond)
		require.Empty(t, got.Error)
		return got
	}
	b := backfill()
	require.Equal(t, 30, b.Created)
	require.Len(t, f.runs(t, "daily"), 30)
	b = backfill()
	require.Equal(t, 0, b.Created)
	require.Equal(t, 30, b.Existing)
	require.Len(t, f.runs(t, "daily"), 30)
}

// hook records the notifications it receives.
type hook struct {
	mu     sync.Mutex
	events []string
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var n taskmaster.Notification
	_ = json.NewDecoder(r.Body).Decode(&n)
	h.mu.Lock()
	h.events = append(h.events, n.Event+" "+n.Alert.Key)
	h.mu.Unlock()
}

func (h *hook) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

func TestCheckAlertsOnceAndResolves(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h := &hook{}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tm, _ := f.start(t)
	_, err := tm.PutNotifier(t.Context(), &store.Notifier{Name: "ops", URL: srv.URL, Kinds: []string{store.AlertCheckLate}})
	require.NoError(t, err)
	_, err = tm.CreateCheck(t.Context(), &store.Check{Name: "backup", Period: 10 * time.Second, Grace: 5 * time.Second})
	require.NoError(t, err)

	f.clock.Advance(14 * time.Second)
	_, err = tm.PingCheck(t.Context(), "backup") // on time
	require.NoError(t, err)
	f.clock.Advance(16 * time.Second) // late now
	require.Eventually(t, func() bool { return len(h.got()) == 1 }, 5*time.Second, time.Millisecond)
	f.clock.Advance(time.Minute) // still late: no second alert
	_, err = tm.PingCheck(t.Context(), "backup")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(h.got()) == 2 }, 5*time.Second, time.Millisecond)
	require.Equal(t, []string{"alert.opened check_late:backup", "alert.resolved check_late:backup"}, h.got())

	// The log records each delivery once its answer is in.
	require.Eventually(t, func() bool {
		ds, err := tm.Deliveries(t.Context(), 0, 10)
		require.NoError(t, err)
		require.Len(t, ds, 2)
		return ds[0].Status == store.DeliveryDelivered && ds[1].Status == store.DeliveryDelivered
	}, 5*time.Second, time.Millisecond)
}

func TestDeliveryRetriesOnTheClock(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	tm, _ := f.start(t)
	_, err := tm.PutNotifier(t.Context(), &store.Notifier{Name: "ops", URL: srv.URL, Format: store.FormatSlack})
	require.NoError(t, err)
	_, err = tm.CreateCheck(t.Context(), &store.Check{Name: "c", Period: time.Second})
	require.NoError(t, err)
	f.clock.Advance(time.Second)
	require.Eventually(t, func() bool {
		ds, err := tm.Deliveries(t.Context(), 0, 10)
		require.NoError(t, err)
		if len(ds) == 1 && ds[0].Status == store.DeliveryDelivered {
			require.Equal(t, 3, ds[0].Attempts)
			return true
		}
		f.clock.Advance(time.Second)
		return false
	}, 5*time.Second, 5*time.Millisecond)
}

func TestEventTriggerMapsAndDedupes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tm, _ := f.start(t)
	_, err := tm.PutTrigger(t.Context(), &store.Trigger{
		Name: "orders", Kind: store.TriggerEvent, Filter: `type == "order.created" && data.total > 100`,
		Mapping: map[string]string{"order": "data.id"}, Task: store.TaskTemplate{Type: "job", Input: loom.Values{"src": "api"}},
	})
	require.NoError(t, err)
	ev := trigger.Event{Type: "order.created", Data: map[string]any{"id": "o-1", "total": 250.0}}
	started, err := tm.Publish(t.Context(), ev, "evt-1")
	require.NoError(t, err)
	require.Len(t, started, 1)
	require.True(t, started[0].Created)
	require.Equal(t, loom.Values{"src": "api", "order": "o-1"}, started[0].Task.Input)
	again, err := tm.Publish(t.Context(), ev, "evt-1")
	require.NoError(t, err)
	require.False(t, again[0].Created)
	require.Equal(t, started[0].Task.ID, again[0].Task.ID)
	none, err := tm.Publish(t.Context(), trigger.Event{Type: "order.created", Data: map[string]any{"id": "o-2", "total": 5.0}}, "")
	require.NoError(t, err)
	require.Empty(t, none)

	// Webhooks need the trigger's secret.
	_, err = tm.PutTrigger(t.Context(), &store.Trigger{Name: "gh", Kind: store.TriggerEvent, Secret: "s3cret", Task: store.TaskTemplate{Type: "job"}})
	require.NoError(t, err)
	body := []byte(`{"ref":"main"}`)
	hdr := http.Header{}
	hdr.Set(trigger.SignatureHeader, trigger.Sign([]byte("wrong"), body))
	_, err = tm.Webhook(t.Context(), "gh", hdr, body)
	require.ErrorIs(t, err, taskmaster.ErrUnauthorized)
	hdr.Set(trigger.SignatureHeader, trigger.Sign([]byte("s3cret"), body))
	s, err := tm.Webhook(t.Context(), "gh", hdr, body)
	require.NoError(t, err)
	require.True(t, s.Created)
}

// TestBreakerListenerAlertsOnceAndResolves feeds breaker events to the
// taskmaster's listener: an opening is one alert however often it is
// seen, and the closing resolves it.
func TestBreakerListenerAlertsOnceAndResolves(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h := &hook{}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tm, _ := f.start(t)
	_, err := tm.PutNotifier(t.Context(), &store.Notifier{Name: "ops", URL: srv.URL, Kinds: []string{store.AlertBreakerOpen}})
	require.NoError(t, err)
	em := loom.NewEventEmitter()
	em.On("", tm.BreakerListener())
	opened := loom.Event{Type: loom.EventBreakerOpened, Breaker: "payments-api", Task: "charge", Error: "connection refused", Time: f.clock.Now()}
	em.Emit(t.Context(), opened)
	em.Emit(t.Context(), opened) // a second worker saw the same opening
	em.Emit(t.Context(), loom.Event{Type: loom.EventBreakerHalf, Breaker: "payments-api"})
	em.Emit(t.Context(), loom.Event{Type: loom.EventBreakerClosed, Breaker: "payments-api"})
	require.Eventually(t, func() bool { return len(h.got()) == 2 }, 5*time.Second, time.Millisecond)
	require.Equal(t, []string{"alert.opened breaker_open:payments-api", "alert.resolved breaker_open:payments-api"}, h.got())
	as, err := tm.Alerts(t.Context(), false, 10)
	require.NoError(t, err)
	require.Len(t, as, 1)
	require.Contains(t, as[0].Message, "connection refused")
}
