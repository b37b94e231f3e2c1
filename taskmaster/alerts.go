package taskmaster

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// raise opens alert a unless its key is open, and queues a delivery to
// every notifier that wants its kind (and, for task and flow failures,
// the task type typ). cursor, when set, is stored with it.
func (t *Taskmaster) raise(ctx context.Context, a store.Alert, cursor *store.Cursor, typ string) {
	t.mu.Lock()
	isOpen := t.open[a.Key]
	t.mu.Unlock()
	if isOpen {
		if cursor != nil {
			t.setCursor(ctx, *cursor)
		}
		return
	}
	notifiers, err := t.st.ListNotifiers(ctx)
	if err != nil {
		t.logger.Error("taskmaster: list notifiers", "err", err)
		return
	}
	var notify []string
	for _, n := range notifiers {
		if wants(n, a.Kind, typ) {
			notify = append(notify, n.Name)
		}
	}
	if a.Opened.IsZero() {
		a.Opened = t.clock.Now()
	}
	_, opened, err := t.st.OpenAlert(ctx, &store.OpenAlertParams{Alert: a, Notify: notify, Cursor: cursor})
	if err != nil {
		t.logger.Error("taskmaster: open alert", "key", a.Key, "err", err)
		return
	}
	t.mu.Lock()
	t.open[a.Key] = true
	t.mu.Unlock()
	if opened {
		t.logger.Warn("taskmaster: alert", "key", a.Key, "msg", a.Message)
		wake(t.wakeNotifier)
	}
}

// resolve resolves the open alert with key, queuing resolve messages.
func (t *Taskmaster) resolve(ctx context.Context, key, msg string, cursor *store.Cursor) {
	t.mu.Lock()
	isOpen := t.open[key]
	t.mu.Unlock()
	if !isOpen {
		if cursor != nil {
			t.setCursor(ctx, *cursor)
		}
		return
	}
	_, resolved, err := t.st.ResolveAlert(ctx, &store.ResolveAlertParams{Key: key, Message: msg, Now: t.clock.Now(), Cursor: cursor})
	if err != nil {
		t.logger.Error("taskmaster: resolve alert", "key", key, "err", err)
		return
	}
	t.mu.Lock()
	delete(t.open, key)
	t.mu.Unlock()
	if resolved {
		t.logger.Info("taskmaster: alert resolved", "key", key, "msg", msg)
		wake(t.wakeNotifier)
	}
}

func (t *Taskmaster) setCursor(ctx context.Context, c store.Cursor) {
	if err := t.st.SetCursor(ctx, c); err != nil {
		t.logger.Error("taskmaster: store cursor", "cursor", c.Name, "err", err)
	}
}

// wants reports whether notifier n subscribes to alerts of kind about task
// type typ.
func wants(n *store.Notifier, kind, typ string) bool {
	if len(n.Kinds) > 0 && !slices.Contains(n.Kinds, kind) {
		return false
	}
	if typ != "" && len(n.Types) > 0 && !slices.Contains(n.Types, typ) {
		return false
	}
	return true
}

// Alerts returns alerts, newest first.
func (t *Taskmaster) Alerts(ctx context.Context, openOnly bool, limit int) ([]*store.Alert, error) {
	as, err := t.st.ListAlerts(ctx, &store.ListAlertsParams{OpenOnly: openOnly, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	return as, nil
}

// Deliveries returns the delivery log, newest first.
func (t *Taskmaster) Deliveries(ctx context.Context, alertID int64, limit int) ([]*store.Delivery, error) {
	ds, err := t.st.ListDeliveries(ctx, &store.ListDeliveriesParams{AlertID: alertID, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	return ds, nil
}

// BreakerListener returns a loom.Listener that raises a breaker_open
// alert when a circuit breaker opens and resolves it when the breaker
// closes again. Attach it to the emitter the breakers report to.
func (t *Taskmaster) BreakerListener() loom.Listener {
	return func(ctx context.Context, e loom.Event) {
		key := store.AlertBreakerOpen + ":" + e.Breaker
		switch e.Type {
		case loom.EventBreakerOpened:
			t.raise(context.WithoutCancel(ctx), store.Alert{Key: key, Kind: store.AlertBreakerOpen, Subject: e.Breaker,
				Message: fmt.Sprintf("circuit breaker %s opened: %s", e.Breaker, e.Error), Opened: e.Time}, nil, "")
		case loom.EventBreakerClosed:
			t.resolve(context.WithoutCancel(ctx), key, "circuit breaker "+e.Breaker+" closed", nil)
		}
	}
}

// runBacklog counts queues every BacklogInterval and raises a
// queue_backlog alert for each whose pending count is above the
// threshold, resolving it once the queue drains below.
func (t *Taskmaster) runBacklog(ctx context.Context) {
	for {
		t.checkBacklog(ctx)
		if !t.sleep(ctx, t.cfg.BacklogInterval, nil) {
			return
		}
	}
}

func (t *Taskmaster) checkBacklog(ctx context.Context) {
	threshold := t.cfg.BacklogThreshold
	notifiers, err := t.st.ListNotifiers(ctx)
	if err != nil {
		return
	}
	for _, n := range notifiers {
		if n.BacklogThreshold > 0 && wants(n, store.AlertQueueBacklog, "") {
			threshold = min(threshold, n.BacklogThreshold)
		}
	}
	qs, err := t.eng.Queues(ctx)
	if err != nil {
		if ctx.Err() == nil {
			t.logger.Error("taskmaster: count queues", "err", err)
		}
		return
	}
	for _, q := range qs {
		key := store.AlertQueueBacklog + ":" + q.Name
		if q.Pending > threshold {
			t.raise(ctx, store.Alert{Key: key, Kind: store.AlertQueueBacklog, Subject: q.Name,
				Message: fmt.Sprintf("queue %s has %d pending tasks, above %d", q.Name, q.Pending, threshold),
				Data:    map[string]any{"queue": q.Name, "pending": q.Pending, "threshold": threshold}}, nil, "")
		} else {
			t.resolve(ctx, key, fmt.Sprintf("queue %s is down to %d pending tasks", q.Name, q.Pending), nil)
		}
	}
}

// deliveryDelay is the wait after failed attempt n (from 1).
func (t *Taskmaster) deliveryDelay(n int) time.Duration {
	d := t.cfg.DeliveryBackoff
	for i := 1; i < n && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}
