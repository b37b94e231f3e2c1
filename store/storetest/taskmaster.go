package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/schedule"
	"github.com/loomhq/loom/store"
)

// RunTaskmaster runs the conformance suite of store.TaskmasterStore
// against the store newStore returns, under the same rules as Run.
//
// Beyond the interface's documentation it expects errors matching
// store.ErrNotFound, store.ErrDuplicate and store.ErrInvalid, times
// read back equal (time.Time.Equal) to those written, and SendSignal to
// append a "signalled" event whose Msg is the signal's name and whose
// Data has the Actor.
func RunTaskmaster(t *testing.T, newStore func(t *testing.T) store.TaskmasterStore) {
	t.Helper()
	for _, tc := range taskmasterTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newStore(t))
		})
	}
}

type taskmasterTest struct {
	name string
	run  func(t *testing.T, s store.TaskmasterStore)
}

var taskmasterTests = []taskmasterTest{
	{"WebhookDeliveries", func(t *testing.T, s store.TaskmasterStore) {
		claim := func(hash string, now time.Time, ttl time.Duration) (*store.WebhookDelivery, bool) {
			t.Helper()
			prev, claimed, err := s.ClaimWebhookDelivery(ctx(t), &store.ClaimWebhookDeliveryParams{
				Delivery:    store.WebhookDelivery{Trigger: "gh", Hash: hash, Received: now, Expires: now.Add(ttl)},
				Now:         now,
				StaleBefore: now.Add(-time.Minute),
			})
			require.NoError(t, err)
			return prev, claimed
		}
		_, claimed := claim("h1", at(0), time.Hour)
		require.True(t, claimed)
		// Claimed, not finished: a second claim sees it in progress.
		prev, claimed := claim("h1", at(time.Second), time.Hour)
		require.False(t, claimed)
		require.Equal(t, "", prev.TaskID)
		require.NoError(t, s.FinishWebhookDelivery(ctx(t), "gh", "h1", "task-1"))
		prev, claimed = claim("h1", at(2*time.Minute), time.Hour)
		require.False(t, claimed)
		require.Equal(t, "task-1", prev.TaskID)
		requireTime(t, at(0), prev.Received, "received")
		requireTime(t, at(time.Hour), prev.Expires, "expires")
		// Another trigger's identical message is its own.
		_, claimed, err := s.ClaimWebhookDelivery(ctx(t), &store.ClaimWebhookDeliveryParams{
			Delivery: store.WebhookDelivery{Trigger: "other", Hash: "h1", Received: at(0), Expires: at(time.Hour)}, Now: at(0),
		})
		require.NoError(t, err)
		require.True(t, claimed)

		// A forgotten claim may be made again; a stale one too.
		_, claimed = claim("h2", at(0), time.Hour)
		require.True(t, claimed)
		require.NoError(t, s.FinishWebhookDelivery(ctx(t), "gh", "h2", ""))
		_, claimed = claim("h2", at(time.Second), time.Hour)
		require.True(t, claimed)
		_, claimed = claim("h2", at(time.Second+2*time.Minute), time.Hour)
		require.True(t, claimed, "a claim never finished for two minutes is stale")
		require.ErrorIs(t, s.FinishWebhookDelivery(ctx(t), "gh", "nope", "x"), store.ErrNotFound)

		// An expired delivery is claimed afresh, and pruned.
		_, claimed = claim("h1", at(time.Hour), time.Hour)
		require.True(t, claimed)
		require.NoError(t, s.FinishWebhookDelivery(ctx(t), "gh", "h1", "task-2"))
		n, err := s.PruneWebhookDeliveries(ctx(t), at(time.Hour+time.Second))
		require.NoError(t, err)
		require.Equal(t, int64(1), n, "the other trigger's delivery expired")
		n, err = s.PruneWebhookDeliveries(ctx(t), at(3*time.Hour))
		require.NoError(t, err)
		require.Equal(t, int64(2), n)
		_, claimed = claim("h1", at(3*time.Hour), time.Hour)
		require.True(t, claimed)
	}},
	{"ScheduleCRUD", func(t *testing.T, s store.TaskmasterStore) {
		sc := &store.Schedule{
			Def:     schedule.Schedule{Name: "nightly", Cron: "0 2 * * *", TimeZone: "Europe/Berlin", Overlap: schedule.OverlapQueue, Jitter: time.Minute},
			Task:    store.TaskTemplate{Type: "report", Input: loom.Values{"region": "eu"}, Timeout: "1h"},
			Created: base,
		}
		require.NoError(t, s.CreateSchedule(ctx(t), sc))
		require.ErrorIs(t, s.CreateSchedule(ctx(t), sc), store.ErrDuplicate)
		got, err := s.GetSchedule(ctx(t), "nightly")
		require.NoError(t, err)
		require.Equal(t, sc.Def, got.Def)
		require.Equal(t, "eu", got.Task.Input["region"])
		require.True(t, got.Cursor.IsZero())
		requireTime(t, base, got.Created, "created")

		sc.Def.Cron = "0 3 * * *"
		upd, err := s.UpdateSchedule(ctx(t), &store.UpdateScheduleParams{Schedule: sc, Now: at(time.Hour)})
		require.NoError(t, err)
		require.Equal(t, "0 3 * * *", upd.Def.Cron)
		requireTime(t, at(time.Hour), upd.Updated, "updated")

		_, err = s.UpdateSchedule(ctx(t), &store.UpdateScheduleParams{Schedule: &store.Schedule{Def: schedule.Schedule{Name: "nope"}}})
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.GetSchedule(ctx(t), "nope")
		require.ErrorIs(t, err, store.ErrNotFound)

		require.NoError(t, s.CreateSchedule(ctx(t), &store.Schedule{Def: schedule.Schedule{Name: "a", Cron: "@hourly"}, Task: store.TaskTemplate{Type: "x"}}))
		all, err := s.ListSchedules(ctx(t))
		require.NoError(t, err)
		require.Len(t, all, 2)
		require.Equal(t, "a", all[0].Def.Name)

		require.NoError(t, s.DeleteSchedule(ctx(t), "a"))
		require.ErrorIs(t, s.DeleteSchedule(ctx(t), "a"), store.ErrNotFound)
	}},
	{"ScheduleAdvance", func(t *testing.T, s store.TaskmasterStore) {
		sc := &store.Schedule{Def: schedule.Schedule{Name: "s", Cron: "@every 1m"}, Task: store.TaskTemplate{Type: "x"}}
		require.NoError(t, s.CreateSchedule(ctx(t), sc))
		fire := schedule.Fire{Schedule: "s", Scheduled: at(2 * time.Minute), Due: at(2 * time.Minute), Key: "s@x", Queued: true}
		require.NoError(t, s.AdvanceSchedule(ctx(t), &store.AdvanceScheduleParams{
			Name: "s", Cursor: at(2 * time.Minute), Backlog: []schedule.Fire{fire}, LastFire: at(time.Minute), LastTaskID: "t1",
		}))
		// An older cursor and last fire are ignored.
		require.NoError(t, s.AdvanceSchedule(ctx(t), &store.AdvanceScheduleParams{
			Name: "s", Cursor: at(time.Minute), Backlog: []schedule.Fire{fire}, LastFire: at(0), LastTaskID: "t0",
		}))
		got, err := s.GetSchedule(ctx(t), "s")
		require.NoError(t, err)
		requireTime(t, at(2*time.Minute), got.Cursor, "cursor")
		requireTime(t, at(time.Minute), got.LastFire, "last fire")
		require.Equal(t, "t1", got.LastTaskID)
		require.Len(t, got.Backlog, 1)
		require.Equal(t, "s@x", got.Backlog[0].Key)
		require.True(t, got.Backlog[0].Queued)

		// Resuming resets the cursor and clears the backlog.
		got, err = s.UpdateSchedule(ctx(t), &store.UpdateScheduleParams{Schedule: got, ResetCursor: at(time.Hour)})
		require.NoError(t, err)
		requireTime(t, at(time.Hour), got.Cursor, "reset cursor")
		require.Empty(t, got.Backlog)

		require.ErrorIs(t, s.AdvanceSchedule(ctx(t), &store.AdvanceScheduleParams{Name: "gone", Cursor: base}), store.ErrNotFound)
	}},
	{"CountActive", func(t *testing.T, s store.TaskmasterStore) {
		tasks := insert(t, s,
			&loom.TaskInfo{Type: "x", IdempotencyKey: "schedule:s@1"},
			&loom.TaskInfo{Type: "x", IdempotencyKey: "schedule:s@2"},
			&loom.TaskInfo{Type: "x", IdempotencyKey: "schedule:s@3"},
			&loom.TaskInfo{Type: "x", IdempotencyKey: "schedule:sx@1"},
			&loom.TaskInfo{Type: "x", IdempotencyKey: "schedule:r@1"},
		)
		_, err := s.CancelTask(ctx(t), &store.CancelTaskParams{ID: tasks[2].ID, Now: at(time.Second)})
		require.NoError(t, err)
		n, err := s.CountActive(ctx(t), "schedule:s@")
		require.NoError(t, err)
		require.Equal(t, 2, n)
		claimOne(t, s, loom.DefaultQueue, at(time.Second)) // running still counts
		n, err = s.CountActive(ctx(t), "schedule:s@")
		require.NoError(t, err)
		require.Equal(t, 2, n)
	}},
	{"Triggers", func(t *testing.T, s store.TaskmasterStore) {
		tr := &store.Trigger{Name: "on-order", Kind: store.TriggerEvent, Filter: `type == "order"`,
			Mapping: map[string]string{"id": "data.id"}, Task: store.TaskTemplate{Type: "ship"}, Updated: base}
		created, err := s.PutTrigger(ctx(t), tr)
		require.NoError(t, err)
		require.True(t, created)
		tr.Filter = `type == "order.created"`
		tr.Updated = at(time.Hour)
		created, err = s.PutTrigger(ctx(t), tr)
		require.NoError(t, err)
		require.False(t, created)
		got, err := s.GetTrigger(ctx(t), "on-order")
		require.NoError(t, err)
		require.Equal(t, `type == "order.created"`, got.Filter)
		require.Equal(t, "data.id", got.Mapping["id"])
		requireTime(t, base, got.Created, "created")
		requireTime(t, at(time.Hour), got.Updated, "updated")
		all, err := s.ListTriggers(ctx(t))
		require.NoError(t, err)
		require.Len(t, all, 1)
		require.NoError(t, s.DeleteTrigger(ctx(t), "on-order"))
		_, err = s.GetTrigger(ctx(t), "on-order")
		require.ErrorIs(t, err, store.ErrNotFound)
	}},
	{"Checks", func(t *testing.T, s store.TaskmasterStore) {
		c := &store.Check{Name: "backup", Period: time.Hour, Grace: 5 * time.Minute, Created: base}
		require.NoError(t, s.CreateCheck(ctx(t), c))
		require.ErrorIs(t, s.CreateCheck(ctx(t), c), store.ErrDuplicate)
		require.ErrorIs(t, s.CreateCheck(ctx(t), &store.Check{Name: "bad"}), store.ErrInvalid)
		got, err := s.GetCheck(ctx(t), "backup")
		require.NoError(t, err)
		require.Nil(t, got.LastPing)
		requireTime(t, at(65*time.Minute), got.Due(), "due before a ping")

		got, err = s.PingCheck(ctx(t), "backup", at(30*time.Minute))
		require.NoError(t, err)
		requireTimePtr(t, at(30*time.Minute), got.LastPing, "last ping")
		got, err = s.PingCheck(ctx(t), "backup", at(10*time.Minute)) // late arrival
		require.NoError(t, err)
		requireTimePtr(t, at(30*time.Minute), got.LastPing, "last ping")
		require.EqualValues(t, 2, got.Pings)
		requireTime(t, at(95*time.Minute), got.Due(), "due")

		got, err = s.UpdateCheck(ctx(t), &store.Check{Name: "backup", Period: 2 * time.Hour, Grace: time.Minute})
		require.NoError(t, err)
		require.Equal(t, 2*time.Hour, got.Period)
		requireTimePtr(t, at(30*time.Minute), got.LastPing, "ping kept")

		_, err = s.PingCheck(ctx(t), "nope", base)
		require.ErrorIs(t, err, store.ErrNotFound)
		all, err := s.ListChecks(ctx(t))
		require.NoError(t, err)
		require.Len(t, all, 1)
		require.NoError(t, s.DeleteCheck(ctx(t), "backup"))
		require.ErrorIs(t, s.DeleteCheck(ctx(t), "backup"), store.ErrNotFound)
	}},
	{"AlertsDedupAndDeliveries", func(t *testing.T, s store.TaskmasterStore) {
		_, err := s.PutNotifier(ctx(t), &store.Notifier{Name: "ops", URL: "http://example.invalid/hook"})
		require.NoError(t, err)
		open := func(at time.Time, seq int64) (*store.Alert, bool) {
			a, opened, err := s.OpenAlert(ctx(t), &store.OpenAlertParams{
				Alert:  store.Alert{Key: "check_late:backup", Kind: store.AlertCheckLate, Subject: "backup", Message: "late", Opened: at, Data: map[string]any{"n": 1.0}},
				Notify: []string{"ops"},
				Cursor: &store.Cursor{Name: "alerts", Seq: seq},
			})
			require.NoError(t, err)
			return a, opened
		}
		a1, opened := open(at(time.Minute), 5)
		require.True(t, opened)
		a2, opened := open(at(2*time.Minute), 6)
		require.False(t, opened, "one outage, one alert")
		require.Equal(t, a1.ID, a2.ID)
		seq, err := s.GetCursor(ctx(t), "alerts")
		require.NoError(t, err)
		require.EqualValues(t, 6, seq)

		due, err := s.DueDeliveries(ctx(t), at(time.Minute), 10)
		require.NoError(t, err)
		require.Len(t, due, 1)
		require.Equal(t, "opened", due[0].Event)
		require.Equal(t, a1.ID, due[0].AlertID)
		next, ok, err := s.NextDeliveryAt(ctx(t))
		require.NoError(t, err)
		require.True(t, ok)
		requireTime(t, at(time.Minute), next, "next delivery")

		d := due[0]
		d.Status, d.Attempts, d.LastCode, d.Updated = store.DeliveryDelivered, 1, 200, at(time.Minute)
		require.NoError(t, s.UpdateDelivery(ctx(t), d))
		_, ok, err = s.NextDeliveryAt(ctx(t))
		require.NoError(t, err)
		require.False(t, ok)

		res, resolved, err := s.ResolveAlert(ctx(t), &store.ResolveAlertParams{Key: "check_late:backup", Message: "pinged", Now: at(3 * time.Minute)})
		require.NoError(t, err)
		require.True(t, resolved)
		requireTimePtr(t, at(3*time.Minute), res.Resolved, "resolved")
		_, resolved, err = s.ResolveAlert(ctx(t), &store.ResolveAlertParams{Key: "check_late:backup", Now: at(4 * time.Minute)})
		require.NoError(t, err)
		require.False(t, resolved)

		due, err = s.DueDeliveries(ctx(t), at(time.Hour), 10)
		require.NoError(t, err)
		require.Len(t, due, 1)
		require.Equal(t, "resolved", due[0].Event)

		// After the resolve, the same condition is a new outage.
		a3, opened := open(at(10*time.Minute), 7)
		require.True(t, opened)
		require.NotEqual(t, a1.ID, a3.ID)

		all, err := s.ListAlerts(ctx(t), &store.ListAlertsParams{})
		require.NoError(t, err)
		require.Len(t, all, 2)
		require.Equal(t, a3.ID, all[0].ID)
		openOnly, err := s.ListAlerts(ctx(t), &store.ListAlertsParams{OpenOnly: true})
		require.NoError(t, err)
		require.Len(t, openOnly, 1)
		log, err := s.ListDeliveries(ctx(t), &store.ListDeliveriesParams{AlertID: a1.ID})
		require.NoError(t, err)
		require.Len(t, log, 2)
		got, err := s.GetAlert(ctx(t), a1.ID)
		require.NoError(t, err)
		require.Equal(t, "pinged", got.ResolveMessage)
		require.InDelta(t, 1.0, got.Data["n"], 0)
	}},
	{"Signals", func(t *testing.T, s store.TaskmasterStore) {
		task := insert(t, s, &loom.TaskInfo{Type: "wait", RunAt: at(time.Hour)})[0]
		_, err := s.GetSignal(ctx(t), task.ID, "approve")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.SendSignal(ctx(t), &store.SendSignalParams{TaskID: "missing", Name: "approve"})
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.SendSignal(ctx(t), &store.SendSignalParams{TaskID: task.ID, Name: "approve", Data: map[string]any{"by": "ann"}, Now: at(time.Minute)})
		require.NoError(t, err)
		sig, err := s.GetSignal(ctx(t), task.ID, "approve")
		require.NoError(t, err)
		require.Equal(t, "ann", sig.Data["by"])
		requireTime(t, at(time.Minute), sig.Time, "signal time")
		// The waiting task is due at once.
		requireTime(t, at(time.Minute), get(t, s, task.ID).RunAt, "run at")
	}},
	{"Backfills", func(t *testing.T, s store.TaskmasterStore) {
		b := &store.Backfill{ID: "b1", Schedule: "nightly", From: base, To: at(24 * time.Hour), Next: base, Started: base}
		require.NoError(t, s.CreateBackfill(ctx(t), b))
		require.ErrorIs(t, s.CreateBackfill(ctx(t), b), store.ErrDuplicate)
		b.Created, b.Next = 3, at(3*time.Hour)
		require.NoError(t, s.UpdateBackfill(ctx(t), b))
		got, err := s.GetBackfill(ctx(t), "b1")
		require.NoError(t, err)
		require.Equal(t, 3, got.Created)
		requireTime(t, at(3*time.Hour), got.Next, "next")
		all, err := s.ListBackfills(ctx(t))
		require.NoError(t, err)
		require.Len(t, all, 1)
		require.ErrorIs(t, s.UpdateBackfill(ctx(t), &store.Backfill{ID: "nope"}), store.ErrNotFound)
	}},
	{"BackfillCancel", func(t *testing.T, s store.TaskmasterStore) {
		b := &store.Backfill{ID: "b1", Schedule: "nightly", From: base, To: at(24 * time.Hour), Next: base, Started: base, Status: store.BackfillRunning}
		require.NoError(t, s.CreateBackfill(ctx(t), b))
		got, err := s.CancelBackfill(ctx(t), "b1", at(time.Minute))
		require.NoError(t, err)
		require.Equal(t, store.BackfillCancelled, got.Status)
		require.True(t, got.Done)
		require.NotNil(t, got.Finished)
		requireTime(t, at(time.Minute), *got.Finished, "finished")
		// Cancelling again changes nothing.
		again, err := s.CancelBackfill(ctx(t), "b1", at(time.Hour))
		require.NoError(t, err)
		requireTime(t, at(time.Minute), *again.Finished, "finished")
		// The loop's next progress write cannot undo the cancel.
		b.Created, b.Next = 5, at(5*time.Hour)
		require.ErrorIs(t, s.UpdateBackfill(ctx(t), b), store.ErrConflict)
		got, err = s.GetBackfill(ctx(t), "b1")
		require.NoError(t, err)
		require.Equal(t, store.BackfillCancelled, got.Status)
		require.Zero(t, got.Created)

		// A finished backfill cannot be cancelled.
		done := &store.Backfill{ID: "b2", Schedule: "nightly", From: base, To: at(time.Hour), Started: base, Status: store.BackfillDone, Done: true}
		require.NoError(t, s.CreateBackfill(ctx(t), done))
		_, err = s.CancelBackfill(ctx(t), "b2", at(time.Minute))
		require.ErrorIs(t, err, store.ErrConflict)
		_, err = s.CancelBackfill(ctx(t), "nope", at(time.Minute))
		require.ErrorIs(t, err, store.ErrNotFound)
	}},
	{"Cursors", func(t *testing.T, s store.TaskmasterStore) {
		seq, err := s.GetCursor(ctx(t), "x")
		require.NoError(t, err)
		require.Zero(t, seq)
		require.NoError(t, s.SetCursor(ctx(t), store.Cursor{Name: "x", Seq: 10}))
		require.NoError(t, s.SetCursor(ctx(t), store.Cursor{Name: "x", Seq: 4}))
		seq, err = s.GetCursor(ctx(t), "x")
		require.NoError(t, err)
		require.EqualValues(t, 10, seq)
	}},
}
