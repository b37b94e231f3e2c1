package taskmaster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/trigger"
)

// Notification is the JSON body a FormatJSON notifier receives.
type Notification struct {
	// Event is "alert.opened" or "alert.resolved".
	Event string `json:"event"`
	// Alert is the alert, with Resolved set in a resolve message.
	Alert *store.Alert `json:"alert"`
	// Text is a one-line summary for people.
	Text string `json:"text"`
}

// MaxDeliveryAttempts is the largest Notifier.MaxAttempts: with the
// delivery backoff capped at 5m, a day of retries.
const MaxDeliveryAttempts = 300

// PutNotifier creates or replaces a notifier.
func (t *Taskmaster) PutNotifier(ctx context.Context, n *store.Notifier) (created bool, err error) {
	if err := validName("notifier", n.Name); err != nil {
		return false, err
	}
	u, err := url.Parse(n.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false, fmt.Errorf("%w: notifier %s: url %q is not an http(s) URL", ErrInvalid, n.Name, n.URL)
	}
	switch n.Format {
	case "", store.FormatJSON, store.FormatSlack:
	default:
		return false, fmt.Errorf("%w: notifier %s: format %q is not json or slack", ErrInvalid, n.Name, n.Format)
	}
	for _, k := range n.Kinds {
		switch k {
		case store.AlertTaskFailed, store.AlertFlowFailed, store.AlertBreakerOpen, store.AlertScheduleLate,
			store.AlertCheckLate, store.AlertQueueBacklog, store.AlertTriggerFailed:
		default:
			return false, fmt.Errorf("%w: notifier %s: unknown alert kind %q", ErrInvalid, n.Name, k)
		}
	}
	if n.BacklogThreshold < 0 {
		return false, fmt.Errorf("%w: notifier %s: backlog_threshold %d is negative", ErrInvalid, n.Name, n.BacklogThreshold)
	}
	if n.MaxAttempts < 0 || n.MaxAttempts > MaxDeliveryAttempts {
		return false, fmt.Errorf("%w: notifier %s: max_attempts %d is not between 0 and %d", ErrInvalid, n.Name, n.MaxAttempts, MaxDeliveryAttempts)
	}
	n.Created = t.clock.Now()
	created, err = t.st.PutNotifier(ctx, n)
	if err != nil {
		return false, fmt.Errorf("taskmaster: %w", err)
	}
	return created, nil
}

// Notifiers returns every notifier.
func (t *Taskmaster) Notifiers(ctx context.Context) ([]*store.Notifier, error) {
	ns, err := t.st.ListNotifiers(ctx)
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	return ns, nil
}

// DeleteNotifier forgets a notifier.
func (t *Taskmaster) DeleteNotifier(ctx context.Context, name string) error {
	if err := t.st.DeleteNotifier(ctx, name); err != nil {
		return fmt.Errorf("taskmaster: %w", err)
	}
	return nil
}

// runNotifier sends due deliveries, sleeping until the next one is due or
// an alert wakes it.
func (t *Taskmaster) runNotifier(ctx context.Context) {
	for ctx.Err() == nil {
		t.deliverDue(ctx)
		d := t.cfg.MaxSleep
		if at, ok, err := t.st.NextDeliveryAt(ctx); err == nil && ok {
			d = min(d, at.Sub(t.clock.Now()))
		}
		if !t.sleep(ctx, max(d, 0), t.wakeNotifier) {
			return
		}
	}
}

func (t *Taskmaster) deliverDue(ctx context.Context) {
	for ctx.Err() == nil {
		due, err := t.st.DueDeliveries(ctx, t.clock.Now(), 50)
		if err != nil {
			if ctx.Err() == nil {
				t.logger.Error("taskmaster: due deliveries", "err", err)
			}
			return
		}
		for _, d := range due {
			t.deliver(ctx, d)
		}
		if len(due) < 50 {
			return
		}
	}
}

// deliver makes one attempt at d and records how it went.
func (t *Taskmaster) deliver(ctx context.Context, d *store.Delivery) {
	maxAttempts := DefaultDeliveryAttempts
	n, err := t.st.GetNotifier(ctx, d.Notifier)
	if err == nil && n.MaxAttempts > 0 {
		maxAttempts = n.MaxAttempts
	}
	var code int
	if err == nil {
		var a *store.Alert
		if a, err = t.st.GetAlert(ctx, d.AlertID); err == nil {
			code, err = t.post(ctx, n, d.Event, a)
		}
	}
	if ctx.Err() != nil {
		return // shutting down: the attempt does not count
	}
	now := t.clock.Now()
	d.Attempts++
	d.LastCode, d.Updated, d.LastError = code, now, ""
	switch {
	case err == nil:
		d.Status = store.DeliveryDelivered
	case d.Attempts >= maxAttempts:
		d.Status, d.LastError = store.DeliveryFailed, err.Error()
	default:
		d.LastError = err.Error()
		d.NextAt = now.Add(t.deliveryDelay(d.Attempts))
	}
	if err := t.st.UpdateDelivery(ctx, d); err != nil {
		t.logger.Error("taskmaster: record delivery", "delivery", d.ID, "err", err)
	}
	if d.Status == store.DeliveryFailed {
		t.logger.Error("taskmaster: notification not delivered", "notifier", d.Notifier, "alert", d.AlertID, "err", d.LastError)
	}
}

// post sends one notification; a non-2xx answer is an error.
func (t *Taskmaster) post(ctx context.Context, n *store.Notifier, event string, a *store.Alert) (int, error) {
	body, err := notificationBody(n.Format, event, a)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("notify %s: %w", n.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "loom-notifier")
	req.Header.Set("X-Loom-Event", "alert."+event)
	req.Header.Set("X-Loom-Delivery", fmt.Sprintf("%d-%s", a.ID, event))
	if n.Secret != "" {
		req.Header.Set(trigger.SignatureHeader, trigger.Sign([]byte(n.Secret), body))
	}
	resp, err := t.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("notify %s: %w", n.Name, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("notify %s: answered %s", n.Name, resp.Status)
	}
	return resp.StatusCode, nil
}

// notificationBody renders an alert event for a notifier's format.
func notificationBody(format, event string, a *store.Alert) ([]byte, error) {
	text := fmt.Sprintf("[loom] ALERT %s: %s", a.Kind, a.Message)
	if event == "resolved" {
		text = fmt.Sprintf("[loom] RESOLVED %s: %s (%s)", a.Kind, a.Subject, a.ResolveMessage)
	}
	var v any = Notification{Event: "alert." + event, Alert: a, Text: text}
	if format == store.FormatSlack {
		v = map[string]string{"text": text}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode notification: %w", err)
	}
	return b, nil
}
