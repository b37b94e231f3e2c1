package store

import (
	"context"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/schedule"
)

// ErrDuplicate: a schedule, check, trigger or notifier of that name exists
// already.
var ErrDuplicate = loom.ErrDuplicate

// TaskmasterStore is what the taskmasters (package taskmaster) keep beyond
// the tasks themselves: schedules and their cursors, triggers, heartbeat
// checks, alerts with their notification deliveries, signals sent to
// waiting tasks, backfills, and the cursors of the loops that follow the
// event log. A backend implements it beside Store, on the same database,
// so that a schedule's state and the tasks it created live together.
//
// Methods that act on a decision read from the event log take an optional
// Cursor, stored in the same transaction, so that a crash either keeps
// both the effect and the cursor or neither.
type TaskmasterStore interface {
	Store

	// CreateSchedule stores a new schedule with an empty cursor, or
	// ErrDuplicate.
	CreateSchedule(ctx context.Context, s *Schedule) error
	// UpdateSchedule replaces a schedule's definition (Def, Task) and
	// keeps its state, except that a non-zero ResetCursor replaces the
	// cursor (a resumed schedule starts afresh) and clears the backlog.
	// ErrNotFound when it does not exist.
	UpdateSchedule(ctx context.Context, p *UpdateScheduleParams) (*Schedule, error)
	// GetSchedule returns one schedule, or ErrNotFound.
	GetSchedule(ctx context.Context, name string) (*Schedule, error)
	// ListSchedules returns every schedule, by name.
	ListSchedules(ctx context.Context) ([]*Schedule, error)
	// DeleteSchedule forgets a schedule; the tasks it created stay.
	DeleteSchedule(ctx context.Context, name string) error
	// AdvanceSchedule stores a scheduling decision's state: the cursor
	// (which never moves backwards: an older one is ignored), the backlog
	// of queued runs, and the last run created. ErrNotFound when the
	// schedule was deleted meanwhile.
	AdvanceSchedule(ctx context.Context, p *AdvanceScheduleParams) error
	// CountActive counts the tasks, pending or running, whose idempotency
	// key starts with prefix: the active runs of a schedule.
	CountActive(ctx context.Context, keyPrefix string) (int, error)

	// PutTrigger creates or replaces a trigger; created says which.
	PutTrigger(ctx context.Context, t *Trigger) (created bool, err error)
	// GetTrigger returns one trigger, or ErrNotFound.
	GetTrigger(ctx context.Context, name string) (*Trigger, error)
	// ListTriggers returns every trigger, by name.
	ListTriggers(ctx context.Context) ([]*Trigger, error)
	// DeleteTrigger forgets a trigger, or ErrNotFound.
	DeleteTrigger(ctx context.Context, name string) error

	// ClaimWebhookDelivery records that a signed webhook message is being
	// acted on, unless it was already: then claimed is false and the
	// recorded delivery is returned. A recorded delivery that has expired
	// (Expires not after p.Now), or whose claim is older than
	// p.StaleBefore and never finished, is replaced by the claim.
	ClaimWebhookDelivery(ctx context.Context, p *ClaimWebhookDeliveryParams) (prev *WebhookDelivery, claimed bool, err error)
	// FinishWebhookDelivery records the task a claimed delivery started;
	// an empty taskID forgets the claim, so the message may come again.
	FinishWebhookDelivery(ctx context.Context, trigger, hash, taskID string) error
	// PruneWebhookDeliveries forgets the deliveries that expired at or
	// before now, and returns how many.
	PruneWebhookDeliveries(ctx context.Context, now time.Time) (int64, error)

	// CreateCheck stores a new heartbeat check, or ErrDuplicate.
	CreateCheck(ctx context.Context, c *Check) error
	// UpdateCheck changes a check's period and grace, or ErrNotFound.
	UpdateCheck(ctx context.Context, c *Check) (*Check, error)
	// GetCheck returns one check, or ErrNotFound.
	GetCheck(ctx context.Context, name string) (*Check, error)
	// ListChecks returns every check, by name.
	ListChecks(ctx context.Context) ([]*Check, error)
	// DeleteCheck forgets a check, or ErrNotFound.
	DeleteCheck(ctx context.Context, name string) error
	// PingCheck records a ping at the given time (a ping older than the
	// last one does not move LastPing back), or ErrNotFound.
	PingCheck(ctx context.Context, name string, at time.Time) (*Check, error)

	// PutNotifier creates or replaces a notification target; created says
	// which.
	PutNotifier(ctx context.Context, n *Notifier) (created bool, err error)
	// GetNotifier returns one notifier, or ErrNotFound.
	GetNotifier(ctx context.Context, name string) (*Notifier, error)
	// ListNotifiers returns every notifier, by name.
	ListNotifiers(ctx context.Context) ([]*Notifier, error)
	// DeleteNotifier forgets a notifier, or ErrNotFound. Its pending
	// deliveries are abandoned.
	DeleteNotifier(ctx context.Context, name string) error

	// OpenAlert opens an alert unless one with the same Key is open
	// already (then opened is false and the open one is returned): one
	// outage, one alert. When it opens, a pending delivery is queued for
	// each of Notify, in the same transaction.
	OpenAlert(ctx context.Context, p *OpenAlertParams) (alert *Alert, opened bool, err error)
	// ResolveAlert resolves the open alert with Key, queuing a resolve
	// delivery for each notifier its opening was delivered to; resolved
	// is false (and alert nil) when none is open.
	ResolveAlert(ctx context.Context, p *ResolveAlertParams) (alert *Alert, resolved bool, err error)
	// GetAlert returns one alert, or ErrNotFound.
	GetAlert(ctx context.Context, id int64) (*Alert, error)
	// ListAlerts returns alerts, newest first.
	ListAlerts(ctx context.Context, p *ListAlertsParams) ([]*Alert, error)

	// DueDeliveries returns pending deliveries whose NextAt has come,
	// oldest first.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]*Delivery, error)
	// NextDeliveryAt is the earliest NextAt of a pending delivery; ok is
	// false when none is pending.
	NextDeliveryAt(ctx context.Context) (at time.Time, ok bool, err error)
	// UpdateDelivery records the result of a delivery attempt (Status,
	// Attempts, NextAt, LastCode, LastError, Updated).
	UpdateDelivery(ctx context.Context, d *Delivery) error
	// ListDeliveries returns deliveries, newest first: the delivery log.
	ListDeliveries(ctx context.Context, p *ListDeliveriesParams) ([]*Delivery, error)

	// SendSignal records a signal for a task and makes the task, if it
	// waits pending, due at once, so that a waiting step wakes up.
	// ErrNotFound when the task does not exist; sending the same signal
	// again replaces its data.
	SendSignal(ctx context.Context, p *SendSignalParams) (*Signal, error)
	// GetSignal returns a signal sent to a task, or ErrNotFound.
	GetSignal(ctx context.Context, taskID, name string) (*Signal, error)

	// CreateBackfill stores a new backfill, or ErrDuplicate.
	CreateBackfill(ctx context.Context, b *Backfill) error
	// UpdateBackfill stores a backfill's progress, or ErrNotFound. A
	// cancelled backfill is left as it is and ErrConflict returned, so
	// that the loop creating its runs learns to stop and cannot undo the
	// cancel.
	UpdateBackfill(ctx context.Context, b *Backfill) error
	// CancelBackfill marks an unfinished backfill cancelled (Status, Done,
	// Finished at now) and returns it; cancelling a cancelled one returns
	// it unchanged. ErrConflict when it finished otherwise, ErrNotFound
	// when it does not exist.
	CancelBackfill(ctx context.Context, id string, now time.Time) (*Backfill, error)
	// GetBackfill returns one backfill, or ErrNotFound.
	GetBackfill(ctx context.Context, id string) (*Backfill, error)
	// ListBackfills returns backfills, newest first.
	ListBackfills(ctx context.Context) ([]*Backfill, error)

	// GetCursor returns the stored position of the event-log reader name;
	// zero when it has none.
	GetCursor(ctx context.Context, name string) (int64, error)
	// SetCursor stores it; a position older than the stored one is
	// ignored.
	SetCursor(ctx context.Context, c Cursor) error
}

// TaskTemplate is the task a schedule, trigger or backfill creates: the
// writable part of the task object, as POST /api/v1/tasks takes it.
type TaskTemplate struct {
	// Type is the task type or flow to run. Required.
	Type string `json:"type"`
	// Queue defaults to the type's queue.
	Queue string `json:"queue,omitempty"`
	// Info is free text for the worker.
	Info string `json:"info,omitempty"`
	// Input is the task's input; a trigger's mapping adds to it.
	Input loom.Values `json:"input,omitempty"`
	// Attributes are arbitrary settings for whoever runs the task.
	Attributes map[string]any `json:"attributes,omitempty"`
	// Priority orders tasks within a queue.
	Priority int `json:"priority,omitempty"`
	// MaxAttempts overrides the type's attempt budget.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Timeout is a Go duration ("30m"): how long each created task may
	// take from creation; default the engine's (6h).
	Timeout string `json:"timeout,omitempty"`
}

// Schedule is a stored cron schedule: its definition, the task each run
// creates, and the scheduler's state.
type Schedule struct {
	// Def is the schedule's definition; Def.Name is its key.
	Def schedule.Schedule `json:"schedule"`
	// Task is what each run creates.
	Task TaskTemplate `json:"task"`
	// Cursor is the newest scheduled time accounted for (see
	// schedule.Decision.Cursor); zero for a schedule that never ran Plan.
	Cursor time.Time `json:"cursor"`
	// Backlog are runs created by an OverlapQueue decision that wait for
	// earlier runs to finish, oldest first.
	Backlog []schedule.Fire `json:"backlog,omitempty"`
	// LastFire is the scheduled time of the newest run created.
	LastFire time.Time `json:"last_fire"`
	// LastTaskID is the task of that run.
	LastTaskID string `json:"last_task_id,omitempty"`
	// Created and Updated are when the schedule was created and last
	// changed by its owner.
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// UpdateScheduleParams change a schedule's definition.
type UpdateScheduleParams struct {
	// Schedule carries the new Def and Task; Def.Name names the schedule.
	Schedule *Schedule
	// ResetCursor, when not zero, replaces the cursor and clears the
	// backlog.
	ResetCursor time.Time
	// Now is the update time.
	Now time.Time
}

// AdvanceScheduleParams are the state a scheduling decision leaves.
type AdvanceScheduleParams struct {
	Name   string
	Cursor time.Time
	// Backlog replaces the stored backlog.
	Backlog []schedule.Fire
	// LastFire and LastTaskID, when set, record the newest run created;
	// an older LastFire than the stored one is ignored.
	LastFire   time.Time
	LastTaskID string
}

// WebhookDelivery is a signed webhook message a trigger acted on.
type WebhookDelivery struct {
	// Trigger is the trigger it was posted to.
	Trigger string `json:"trigger"`
	// Hash identifies the signed message: a hash of what the signature
	// covers.
	Hash string `json:"hash"`
	// TaskID is the task it started; empty while it is being acted on.
	TaskID string `json:"task_id,omitempty"`
	// Received is when it was first accepted.
	Received time.Time `json:"received"`
	// Expires is when the record may be forgotten: a replay after it is
	// refused by its signature's timestamp, or is outside the window kept.
	Expires time.Time `json:"expires"`
}

// ClaimWebhookDeliveryParams are the arguments of ClaimWebhookDelivery.
type ClaimWebhookDeliveryParams struct {
	// Delivery is recorded with an empty TaskID; Received is the claim's
	// time.
	Delivery WebhookDelivery
	// Now is compared with recorded deliveries' Expires.
	Now time.Time
	// StaleBefore: a claim received before it that never finished (its
	// process died) may be claimed again.
	StaleBefore time.Time
}

// Trigger kinds.
const (
	// TriggerEvent starts a task for each matching event posted to the API
	// or received by a webhook.
	TriggerEvent = "event"
	// TriggerCompletion starts a task when a task of another type ends
	// with a given result (seed 003's responder).
	TriggerCompletion = "completion"
)

// Trigger starts tasks in response to events or to other tasks ending.
type Trigger struct {
	// Name identifies the trigger and is part of the idempotency key of
	// every task it creates.
	Name string `json:"name"`
	// Kind is TriggerEvent or TriggerCompletion.
	Kind string `json:"kind"`
	// Filter is a trigger filter expression (package trigger) over the
	// event; for completion triggers the event is {type: "task.ended",
	// data: {type, result, status, output, input, id}}. Empty matches
	// every event.
	Filter string `json:"filter,omitempty"`
	// Mapping builds input keys from paths into the event, added to
	// Task.Input.
	Mapping map[string]string `json:"mapping,omitempty"`
	// OnType is the task type whose end a completion trigger follows.
	OnType string `json:"on_type,omitempty"`
	// OnResult is the result ("complete" or "error") it waits for; empty
	// means either.
	OnResult loom.TaskResult `json:"on_result,omitempty"`
	// Secret, when set, lets webhooks post to this trigger, signed with
	// HMAC-SHA256 under it.
	Secret string `json:"secret,omitempty"`
	// Task is what the trigger creates.
	Task TaskTemplate `json:"task"`
	// Paused triggers match nothing.
	Paused  bool      `json:"paused,omitempty"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Check is a heartbeat check: an outside job promises to ping every
// Period; a ping later than Period+Grace raises an alert.
type Check struct {
	Name   string        `json:"name"`
	Period time.Duration `json:"period"`
	Grace  time.Duration `json:"grace"`
	// LastPing is when it was last pinged; nil before the first ping (the
	// check is then due Period+Grace after Created).
	LastPing *time.Time `json:"last_ping,omitempty"`
	// Pings counts the pings received.
	Pings   int64     `json:"pings"`
	Created time.Time `json:"created"`
}

// Due is when the check is late without another ping.
func (c *Check) Due() time.Time {
	from := c.Created
	if c.LastPing != nil {
		from = *c.LastPing
	}
	return from.Add(c.Period + c.Grace)
}

// Alert kinds, the conditions a notifier subscribes to.
const (
	AlertTaskFailed    = "task_failed"
	AlertFlowFailed    = "flow_failed"
	AlertBreakerOpen   = "breaker_open"
	AlertScheduleLate  = "schedule_late"
	AlertCheckLate     = "check_late"
	AlertQueueBacklog  = "queue_backlog"
	AlertTriggerFailed = "trigger_failed"
)

// Alert is one outage: opened once, resolved once.
type Alert struct {
	ID int64 `json:"id"`
	// Key identifies the condition ("check_late:nightly-backup"); at most
	// one alert per key is open.
	Key string `json:"key"`
	// Kind is one of the Alert* kinds.
	Kind string `json:"kind"`
	// Subject names what is wrong: a task type, a check, a queue.
	Subject string `json:"subject"`
	// Message says what happened, for people.
	Message string `json:"message"`
	// Data is detail for machines: task id, counts, times.
	Data     map[string]any `json:"data,omitempty"`
	Opened   time.Time      `json:"opened"`
	Resolved *time.Time     `json:"resolved,omitempty"`
	// ResolveMessage says why it was resolved.
	ResolveMessage string `json:"resolve_message,omitempty"`
}

// Cursor is the position of an event-log reader.
type Cursor struct {
	Name string
	Seq  int64
}

// OpenAlertParams open an alert.
type OpenAlertParams struct {
	Alert Alert
	// Notify names the notifiers to deliver it to.
	Notify []string
	// Cursor, when set, is stored in the same transaction.
	Cursor *Cursor
}

// ResolveAlertParams resolve the open alert with Key.
type ResolveAlertParams struct {
	Key     string
	Message string
	Now     time.Time
	Cursor  *Cursor
}

// ListAlertsParams filter the alert list.
type ListAlertsParams struct {
	// OpenOnly keeps the alerts not resolved.
	OpenOnly bool
	// Limit is the most returned; default 100.
	Limit int
}

// Notifier formats.
const (
	// FormatJSON posts the alert object with an "event" field.
	FormatJSON = "json"
	// FormatSlack posts {"text": ...}, what Slack's incoming webhooks and
	// many chat tools take.
	FormatSlack = "slack"
)

// Notifier is an alert rule and where it delivers: the alert kinds it
// wants and a webhook URL.
type Notifier struct {
	Name string `json:"name"`
	// URL receives a POST per alert opened and resolved.
	URL string `json:"url"`
	// Format is FormatJSON (default) or FormatSlack.
	Format string `json:"format,omitempty"`
	// Kinds are the alert kinds wanted; empty means all.
	Kinds []string `json:"kinds,omitempty"`
	// Types, when set, limits task and flow failure alerts to these task
	// types.
	Types []string `json:"types,omitempty"`
	// BacklogThreshold is the pending count above which a queue raises a
	// queue_backlog alert; zero means the taskmaster's default.
	BacklogThreshold int `json:"backlog_threshold,omitempty"`
	// Secret, when set, signs each body (X-Hub-Signature-256) so the
	// receiver can trust it.
	Secret string `json:"secret,omitempty"`
	// MaxAttempts bounds delivery attempts; default 5.
	MaxAttempts int       `json:"max_attempts,omitempty"`
	Created     time.Time `json:"created"`
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Delivery is one notification of one alert event to one notifier, and
// the log of trying to send it.
type Delivery struct {
	ID       int64  `json:"id"`
	AlertID  int64  `json:"alert_id"`
	Notifier string `json:"notifier"`
	// Event is "opened" or "resolved".
	Event string `json:"event"`
	// Status is pending, delivered or failed (attempts exhausted).
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	NextAt    time.Time `json:"next_at"`
	LastCode  int       `json:"last_code,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
}

// ListDeliveriesParams filter the delivery log.
type ListDeliveriesParams struct {
	// AlertID, when set, keeps one alert's deliveries.
	AlertID int64
	// Limit is the most returned; default 100.
	Limit int
}

// SendSignalParams send a signal to a waiting task.
type SendSignalParams struct {
	TaskID string
	Name   string
	Data   map[string]any
	Now    time.Time
	// Actor, when set, is who sent it, recorded in the data of the
	// task's "signalled" event.
	Actor string
}

// Signal is a signal sent to a task.
type Signal struct {
	TaskID string         `json:"task_id"`
	Name   string         `json:"name"`
	Data   map[string]any `json:"data,omitempty"`
	Time   time.Time      `json:"time"`
}

// Backfill states.
const (
	// BackfillRunning: runs are still being created.
	BackfillRunning = "running"
	// BackfillDone: every run of the range exists.
	BackfillDone = "done"
	// BackfillFailed: it stopped on an error (Error says which).
	BackfillFailed = "failed"
	// BackfillCancelled: it was cancelled; the runs created before stay.
	BackfillCancelled = "cancelled"
)

// Backfill is a request to create a schedule's (or a template's) runs for
// every period of a range, and its progress.
type Backfill struct {
	ID string `json:"id"`
	// Schedule names the schedule whose periods and task are used; or
	// Cron and Task give them directly.
	Schedule string        `json:"schedule,omitempty"`
	Cron     string        `json:"cron,omitempty"`
	TimeZone string        `json:"timezone,omitempty"`
	Task     *TaskTemplate `json:"task,omitempty"`
	From     time.Time     `json:"from"`
	To       time.Time     `json:"to"`
	// Rate is the most runs created per second; default 10.
	Rate int `json:"rate,omitempty"`
	// Next is the scheduled time from which work continues.
	Next time.Time `json:"next"`
	// Created counts tasks created, Existing those already there (a
	// repeated backfill).
	Created  int `json:"created"`
	Existing int `json:"existing"`
	// Status is one of the Backfill* states; empty in backfills stored
	// by older versions, which read it from Done and Error.
	Status string `json:"status"`
	// Done is true once it stopped, whatever the Status.
	Done     bool       `json:"done"`
	Error    string     `json:"error,omitempty"`
	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished,omitempty"`
}
