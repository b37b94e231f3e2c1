package taskmaster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/internal/jsondepth"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/trigger"
)

// TriggerKeyPrefix starts the idempotency key of every task a trigger
// creates: "trigger:<name>@<event id>".
const TriggerKeyPrefix = "trigger:"

// Started is one task a trigger started (or found already started for
// the same event).
type Started struct {
	Trigger string         `json:"trigger"`
	Task    *loom.TaskInfo `json:"task,omitempty"`
	// Created is false when the event had already started this task.
	Created bool `json:"created"`
	// Error says why a matching trigger started nothing.
	Error string `json:"error,omitempty"`
	// Replayed is set when a webhook carried a signed message already
	// acted on: Task is the one its first delivery started.
	Replayed bool `json:"replayed,omitempty"`
}

// PutTrigger validates and creates or replaces a trigger.
func (t *Taskmaster) PutTrigger(ctx context.Context, tr *store.Trigger) (created bool, err error) {
	if err := validName("trigger", tr.Name); err != nil {
		return false, err
	}
	switch tr.Kind {
	case store.TriggerEvent:
	case store.TriggerCompletion:
		if tr.OnType == "" {
			return false, fmt.Errorf("%w: trigger %s: a completion trigger needs on_type", ErrInvalid, tr.Name)
		}
		switch tr.OnResult {
		case "", loom.ResultComplete, loom.ResultError:
		default:
			return false, fmt.Errorf("%w: trigger %s: on_result %q is not complete or error", ErrInvalid, tr.Name, tr.OnResult)
		}
	default:
		return false, fmt.Errorf("%w: trigger %s: kind %q is not event or completion", ErrInvalid, tr.Name, tr.Kind)
	}
	if tr.Filter != "" {
		if _, err := trigger.Compile(tr.Filter); err != nil {
			return false, fmt.Errorf("%w: trigger %s: %w", ErrInvalid, tr.Name, err)
		}
	}
	if err := trigger.Mapping(tr.Mapping).Validate(); err != nil {
		return false, fmt.Errorf("%w: trigger %s: %w", ErrInvalid, tr.Name, err)
	}
	if err := t.validateTemplate(&tr.Task); err != nil {
		return false, err
	}
	tr.Updated = t.clock.Now()
	created, err = t.st.PutTrigger(ctx, tr)
	if err != nil {
		return false, fmt.Errorf("taskmaster: %w", err)
	}
	return created, nil
}

// Trigger returns one trigger.
func (t *Taskmaster) Trigger(ctx context.Context, name string) (*store.Trigger, error) {
	tr, err := t.st.GetTrigger(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	return tr, nil
}

// Triggers returns every trigger.
func (t *Taskmaster) Triggers(ctx context.Context) ([]*store.Trigger, error) {
	trs, err := t.st.ListTriggers(ctx)
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	return trs, nil
}

// DeleteTrigger forgets a trigger.
func (t *Taskmaster) DeleteTrigger(ctx context.Context, name string) error {
	if err := t.st.DeleteTrigger(ctx, name); err != nil {
		return fmt.Errorf("taskmaster: %w", err)
	}
	return nil
}

// Publish starts the tasks of every event trigger that matches ev. id,
// when set, identifies the event: posting the same id again starts
// nothing new. A trigger whose filter or mapping fails on ev is reported
// in its Started entry and does not stop the others.
func (t *Taskmaster) Publish(ctx context.Context, ev trigger.Event, id string) ([]Started, error) {
	if ev.Type == "" {
		return nil, fmt.Errorf("%w: an event needs a type", ErrInvalid)
	}
	trs, err := t.st.ListTriggers(ctx)
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	out := []Started{}
	for _, tr := range trs {
		if tr.Kind != store.TriggerEvent || tr.Paused {
			continue
		}
		if s, ok := t.fire(ctx, tr, ev, id); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// Webhook verifies a webhook posted to trigger name with its secret
// (X-Hub-Signature-256, or the timestamped Loom-Signature) and runs that
// trigger on the event it carries: the JSON body is the event's data, its
// type the X-Loom-Event or X-GitHub-Event header (default "webhook"),
// and its id the X-Loom-Delivery or X-GitHub-Delivery header. A body
// nesting deeper than 64 levels is refused (ErrInvalid).
func (t *Taskmaster) Webhook(ctx context.Context, name string, header http.Header, body []byte) (*Started, error) {
	tr, err := t.st.GetTrigger(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	if tr.Secret == "" || tr.Kind != store.TriggerEvent {
		return nil, fmt.Errorf("taskmaster: trigger %s takes no webhooks: %w", name, store.ErrNotFound)
	}
	secret := []byte(tr.Secret)
	now := t.clock.Now()
	var msg webhookMessage
	if sig := header.Get(trigger.TimestampedSignatureHeader); sig != "" {
		err = trigger.VerifyTimestamped(secret, body, sig, now, 0)
		signed, _ := trigger.SignedAt(sig)
		msg = newWebhookMessage(body, signed, signed.Add(trigger.DefaultTolerance))
	} else {
		err = trigger.VerifySignature(secret, body, header.Get(trigger.SignatureHeader))
		msg = newWebhookMessage(body, time.Time{}, now.Add(t.cfg.WebhookWindow))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	var data map[string]any
	if len(body) > 0 {
		if err := jsondepth.Check(body, jsondepth.Max); err != nil {
			return nil, fmt.Errorf("%w: webhook body: %w", ErrInvalid, err)
		}
		if err := json.Unmarshal(body, &data); err != nil {
			return nil, fmt.Errorf("%w: webhook body is not a JSON object: %w", ErrInvalid, err)
		}
	}
	ev := trigger.Event{Type: firstOf(header.Get("X-Loom-Event"), header.Get("X-GitHub-Event"), "webhook"), Data: data}
	id := firstOf(header.Get("X-Loom-Delivery"), header.Get("X-GitHub-Delivery"))
	if tr.Paused {
		return &Started{Trigger: tr.Name, Error: "trigger is paused"}, nil
	}
	t.pruneWebhookDeliveries(ctx, now)
	claim := store.WebhookDelivery{Trigger: tr.Name, Hash: msg.hash, Received: now, Expires: msg.expires}
	if claim.Expires.Before(now) {
		claim.Expires = now
	}
	prev, claimed, err := t.st.ClaimWebhookDelivery(ctx, &store.ClaimWebhookDeliveryParams{
		Delivery: claim, Now: now, StaleBefore: now.Add(-webhookClaimTimeout),
	})
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	if !claimed {
		return t.replayed(ctx, tr.Name, prev)
	}
	s, ok := t.fire(ctx, tr, ev, id)
	taskID := ""
	if s.Task != nil {
		taskID = s.Task.ID
	}
	// A message that started nothing is forgotten: sent again, it is
	// judged again (by a trigger whose filter or task may have changed).
	if err := t.st.FinishWebhookDelivery(context.WithoutCancel(ctx), tr.Name, msg.hash, taskID); err != nil {
		t.logger.Error("taskmaster: record webhook delivery", "trigger", tr.Name, "err", err)
	}
	if !ok {
		return &Started{Trigger: tr.Name, Error: "filter did not match"}, nil
	}
	return &s, nil
}

// webhookClaimTimeout is how long a webhook message being acted on blocks
// the same message: longer than a submit takes, short enough that a
// sender's retry after a crash gets through.
const webhookClaimTimeout = time.Minute

// webhookMessage is what a webhook's signature covers, as the replay
// record knows it.
type webhookMessage struct {
	hash    string    // of the signed timestamp, if any, and the body
	expires time.Time // when a replay is refused anyway, or forgotten
}

func newWebhookMessage(body []byte, signed time.Time, expires time.Time) webhookMessage {
	h := sha256.New()
	if signed.IsZero() {
		h.Write([]byte("sha256\n"))
	} else {
		fmt.Fprintf(h, "t=%d\n", signed.Unix())
	}
	h.Write(body)
	return webhookMessage{hash: hex.EncodeToString(h.Sum(nil)), expires: expires}
}

// replayed answers a webhook whose signed message was acted on already:
// with the task its first delivery started, or ErrConflict while that
// delivery is still being acted on.
func (t *Taskmaster) replayed(ctx context.Context, trigger string, prev *store.WebhookDelivery) (*Started, error) {
	if prev.TaskID == "" {
		return nil, fmt.Errorf("taskmaster: webhook to %s: the same signed message is being acted on: %w", trigger, store.ErrConflict)
	}
	s := &Started{Trigger: trigger, Replayed: true}
	task, err := t.eng.Get(ctx, prev.TaskID)
	switch {
	case err == nil:
		s.Task = task
	case errors.Is(err, store.ErrNotFound):
		s.Error = "the task its first delivery started no longer exists"
	default:
		return nil, fmt.Errorf("taskmaster: webhook replay: %w", err)
	}
	return s, nil
}

// pruneWebhookDeliveries forgets expired webhook deliveries, at most once
// a minute.
func (t *Taskmaster) pruneWebhookDeliveries(ctx context.Context, now time.Time) {
	last := t.lastWebhookPrune.Load()
	if now.UnixNano()-last < int64(time.Minute) || !t.lastWebhookPrune.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if _, err := t.st.PruneWebhookDeliveries(ctx, now); err != nil && ctx.Err() == nil {
		t.logger.Error("taskmaster: prune webhook deliveries", "err", err)
	}
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// fire runs one trigger on one event; ok is false when its filter does
// not match.
func (t *Taskmaster) fire(ctx context.Context, tr *store.Trigger, ev trigger.Event, id string) (Started, bool) {
	s := Started{Trigger: tr.Name}
	if tr.Filter != "" {
		f, err := t.filters.get(tr.Filter)
		if err != nil {
			s.Error = err.Error()
			return s, true
		}
		ok, err := f.MatchContext(ctx, ev)
		if err != nil {
			s.Error = err.Error()
			return s, true
		}
		if !ok {
			return s, false
		}
	}
	input := tr.Task.Input.Clone()
	if len(tr.Mapping) > 0 {
		mapped, err := trigger.Mapping(tr.Mapping).Apply(ev)
		if err != nil {
			s.Error = err.Error()
			return s, true
		}
		if input == nil {
			input = loom.Values{}
		}
		maps.Copy(input, mapped)
	}
	key := ""
	if id != "" {
		key = TriggerKeyPrefix + tr.Name + "@" + id
	}
	p, err := t.submitParams(&tr.Task, input, key, t.clock.Now(), map[string]any{"trigger": tr.Name, "event": ev.Type})
	if err != nil {
		s.Error = err.Error()
		return s, true
	}
	task, created, err := t.eng.Submit(ctx, p)
	if err != nil {
		s.Error = err.Error()
		return s, true
	}
	s.Task, s.Created = task, created
	return s, true
}

// completionEvent is what a completion trigger's filter and mapping see.
func completionEvent(task *loom.TaskInfo) trigger.Event {
	data := map[string]any{
		"id": task.ID, "type": task.Type, "status": string(task.Status), "result": string(task.Result),
		"msg": task.Msg, "input": jsonish(task.Input), "output": jsonish(task.Output),
	}
	return trigger.Event{Type: "task.ended", Data: data}
}

// jsonish turns values into the plain JSON shapes the filter language
// reads (numbers as float64).
func jsonish(v loom.Values) map[string]any {
	if v == nil {
		return map[string]any{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return map[string]any{}
	}
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// fireCompletionTriggers starts the tasks of the completion triggers
// following task's type. The key holds the event's sequence number, so a
// replayed event starts nothing twice and a task retried by hand that ends
// again fires again.
func (t *Taskmaster) fireCompletionTriggers(ctx context.Context, e store.Event, task *loom.TaskInfo) {
	trs, err := t.st.ListTriggers(ctx)
	if err != nil {
		t.logger.Error("taskmaster: list triggers", "err", err)
		return
	}
	var ev *trigger.Event
	for _, tr := range trs {
		if tr.Kind != store.TriggerCompletion || tr.Paused || tr.OnType != task.Type {
			continue
		}
		if tr.OnResult != "" && tr.OnResult != task.Result {
			continue
		}
		if ev == nil {
			ce := completionEvent(task)
			ev = &ce
		}
		s, ok := t.fire(ctx, tr, *ev, strconv.FormatInt(e.Seq, 10))
		if ok && s.Error != "" {
			t.logger.Error("taskmaster: completion trigger", "trigger", tr.Name, "task", task.ID, "err", s.Error)
			t.raise(ctx, store.Alert{Key: store.AlertTriggerFailed + ":" + tr.Name, Kind: store.AlertTriggerFailed, Subject: tr.Name,
				Message: fmt.Sprintf("trigger %s could not start a task for %s: %s", tr.Name, task.ID, s.Error)}, nil, "")
		}
	}
}
