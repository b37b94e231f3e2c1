package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/schedule"
	"github.com/loomhq/loom/store"
)

// ScheduleRequest is a schedule to create: a cron expression, its time
// zone, the task each run creates and the policies. Zero fields take the
// server's defaults.
type ScheduleRequest struct {
	Name     string             `json:"name"`
	Cron     string             `json:"cron"`
	Timezone string             `json:"timezone,omitempty"`
	Task     store.TaskTemplate `json:"task"`
	// Overlap is skip (default), queue or allow.
	Overlap string `json:"overlap,omitempty"`
	// CatchUp is the policy after downtime; default run once.
	CatchUp *schedule.CatchUp `json:"catch_up,omitempty"`
	// Jitter and Grace are Go durations ("30s").
	Jitter string `json:"jitter,omitempty"`
	Grace  string `json:"grace,omitempty"`
	Paused bool   `json:"paused,omitempty"`
}

// Schedule is a schedule as the server answers it.
type Schedule struct {
	Name     string             `json:"name"`
	Cron     string             `json:"cron"`
	Timezone string             `json:"timezone,omitempty"`
	Task     store.TaskTemplate `json:"task"`
	Overlap  string             `json:"overlap,omitempty"`
	CatchUp  schedule.CatchUp   `json:"catch_up"`
	Jitter   string             `json:"jitter,omitempty"`
	Grace    string             `json:"grace,omitempty"`
	Paused   bool               `json:"paused,omitempty"`
	// Next are the next five fire times.
	Next     []time.Time    `json:"next"`
	Cursor   time.Time      `json:"cursor"`
	Queued   int            `json:"queued"`
	LastFire *time.Time     `json:"last_fire,omitempty"`
	LastRun  *loom.TaskInfo `json:"last_run,omitempty"`
	Created  time.Time      `json:"created"`
	Updated  time.Time      `json:"updated"`
}

// CreateSchedule creates a schedule.
func (c *Client) CreateSchedule(ctx context.Context, req *ScheduleRequest) (*Schedule, error) {
	if req == nil {
		return nil, ErrNoRequest
	}
	var out Schedule
	if _, err := c.do(ctx, http.MethodPost, "/schedules", nil, req, &out); err != nil {
		return nil, fmt.Errorf("create schedule %s: %w", req.Name, err)
	}
	return &out, nil
}

// Schedules lists every schedule.
func (c *Client) Schedules(ctx context.Context) ([]Schedule, error) {
	var out struct{ Schedules []Schedule }
	if _, err := c.do(ctx, http.MethodGet, "/schedules", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	return out.Schedules, nil
}

// Schedule returns one schedule.
func (c *Client) Schedule(ctx context.Context, name string) (*Schedule, error) {
	var out Schedule
	if _, err := c.do(ctx, http.MethodGet, "/schedules/"+url.PathEscape(name), nil, nil, &out); err != nil {
		return nil, fmt.Errorf("get schedule %s: %w", name, err)
	}
	return &out, nil
}

// UpdateSchedule changes the fields of a schedule that patch holds (JSON
// names, as in ScheduleRequest).
func (c *Client) UpdateSchedule(ctx context.Context, name string, patch map[string]any) (*Schedule, error) {
	var out Schedule
	if _, err := c.do(ctx, http.MethodPatch, "/schedules/"+url.PathEscape(name), nil, patch, &out); err != nil {
		return nil, fmt.Errorf("update schedule %s: %w", name, err)
	}
	return &out, nil
}

// DeleteSchedule deletes a schedule; its tasks stay.
func (c *Client) DeleteSchedule(ctx context.Context, name string) error {
	if _, err := c.do(ctx, http.MethodDelete, "/schedules/"+url.PathEscape(name), nil, nil, nil); err != nil {
		return fmt.Errorf("delete schedule %s: %w", name, err)
	}
	return nil
}

// ScheduleAction posts action ("pause", "resume") to a schedule.
func (c *Client) ScheduleAction(ctx context.Context, name, action string) (*Schedule, error) {
	var out Schedule
	if _, err := c.do(ctx, http.MethodPost, "/schedules/"+url.PathEscape(name)+"/"+action, nil, nil, &out); err != nil {
		return nil, fmt.Errorf("%s schedule %s: %w", action, name, err)
	}
	return &out, nil
}

// TriggerSchedule creates one run of a schedule now.
func (c *Client) TriggerSchedule(ctx context.Context, name string) (*loom.TaskInfo, error) {
	var out loom.TaskInfo
	if _, err := c.do(ctx, http.MethodPost, "/schedules/"+url.PathEscape(name)+"/trigger", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("trigger schedule %s: %w", name, err)
	}
	return &out, nil
}

// BackfillRequest asks for a schedule's runs over [From, To).
type BackfillRequest struct {
	Schedule string    `json:"schedule"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Rate     int       `json:"rate,omitempty"`
}

// Backfill starts a backfill and returns it.
func (c *Client) Backfill(ctx context.Context, req *BackfillRequest) (*store.Backfill, error) {
	if req == nil {
		return nil, ErrNoRequest
	}
	var out store.Backfill
	if _, err := c.do(ctx, http.MethodPost, "/backfills", nil, req, &out); err != nil {
		return nil, fmt.Errorf("backfill %s: %w", req.Schedule, err)
	}
	return &out, nil
}

// GetBackfill returns a backfill's progress.
func (c *Client) GetBackfill(ctx context.Context, id string) (*store.Backfill, error) {
	var out store.Backfill
	if _, err := c.do(ctx, http.MethodGet, "/backfills/"+url.PathEscape(id), nil, nil, &out); err != nil {
		return nil, fmt.Errorf("get backfill %s: %w", id, err)
	}
	return &out, nil
}

// CancelBackfill stops a backfill and returns it, cancelled.
func (c *Client) CancelBackfill(ctx context.Context, id string) (*store.Backfill, error) {
	var out store.Backfill
	if _, err := c.do(ctx, http.MethodPost, "/backfills/"+url.PathEscape(id)+"/cancel", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("cancel backfill %s: %w", id, err)
	}
	return &out, nil
}

// Check is a heartbeat check as the server answers it.
type Check struct {
	Name     string     `json:"name"`
	Period   string     `json:"period"`
	Grace    string     `json:"grace,omitempty"`
	LastPing *time.Time `json:"last_ping,omitempty"`
	Pings    int64      `json:"pings"`
	Created  time.Time  `json:"created"`
	Due      time.Time  `json:"due"`
	Late     bool       `json:"late"`
}

// CreateCheck creates a heartbeat check; period and grace are Go
// durations.
func (c *Client) CreateCheck(ctx context.Context, name, period, grace string) (*Check, error) {
	var out Check
	body := map[string]string{"name": name, "period": period}
	if grace != "" {
		body["grace"] = grace
	}
	if _, err := c.do(ctx, http.MethodPost, "/checks", nil, body, &out); err != nil {
		return nil, fmt.Errorf("create check %s: %w", name, err)
	}
	return &out, nil
}

// Checks lists every check.
func (c *Client) Checks(ctx context.Context) ([]Check, error) {
	var out struct{ Checks []Check }
	if _, err := c.do(ctx, http.MethodGet, "/checks", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("list checks: %w", err)
	}
	return out.Checks, nil
}

// PingCheck pings a check.
func (c *Client) PingCheck(ctx context.Context, name string) (*Check, error) {
	var out Check
	if _, err := c.do(ctx, http.MethodPost, "/checks/"+url.PathEscape(name)+"/ping", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("ping check %s: %w", name, err)
	}
	return &out, nil
}

// DeleteCheck deletes a check.
func (c *Client) DeleteCheck(ctx context.Context, name string) error {
	if _, err := c.do(ctx, http.MethodDelete, "/checks/"+url.PathEscape(name), nil, nil, nil); err != nil {
		return fmt.Errorf("delete check %s: %w", name, err)
	}
	return nil
}

// Alerts lists alerts, newest first; openOnly keeps unresolved ones.
func (c *Client) Alerts(ctx context.Context, openOnly bool) ([]store.Alert, error) {
	var out struct{ Alerts []store.Alert }
	q := url.Values{"open": {strconv.FormatBool(openOnly)}}
	if _, err := c.do(ctx, http.MethodGet, "/alerts", q, nil, &out); err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	return out.Alerts, nil
}

// PostEvent posts an event; id, when set, makes reposting it harmless.
// It returns what the matching triggers started, as raw JSON objects.
func (c *Client) PostEvent(ctx context.Context, typ string, data map[string]any, id string) ([]map[string]any, error) {
	var out struct{ Started []map[string]any }
	body := map[string]any{"type": typ, "data": data}
	if id != "" {
		body["id"] = id
	}
	if _, err := c.do(ctx, http.MethodPost, "/events", nil, body, &out); err != nil {
		return nil, fmt.Errorf("post event %s: %w", typ, err)
	}
	return out.Started, nil
}

// Signal sends a signal to a task.
func (c *Client) Signal(ctx context.Context, taskID, name string, data map[string]any) (*store.Signal, error) {
	var out store.Signal
	if _, err := c.do(ctx, http.MethodPost, "/tasks/"+url.PathEscape(taskID)+"/signal", nil,
		map[string]any{"name": name, "data": data}, &out); err != nil {
		return nil, fmt.Errorf("signal %s to %s: %w", name, taskID, err)
	}
	return &out, nil
}

// PutTrigger creates or replaces a trigger (POST /triggers) and returns
// it as stored, its secret masked.
func (c *Client) PutTrigger(ctx context.Context, tr *store.Trigger) (*store.Trigger, error) {
	if tr == nil {
		return nil, ErrNoRequest
	}
	var out store.Trigger
	if _, err := c.do(ctx, http.MethodPost, "/triggers", nil, tr, &out); err != nil {
		return nil, fmt.Errorf("put trigger %s: %w", tr.Name, err)
	}
	return &out, nil
}

// Triggers lists every trigger, by name, secrets masked.
func (c *Client) Triggers(ctx context.Context) ([]store.Trigger, error) {
	var out struct{ Triggers []store.Trigger }
	if _, err := c.do(ctx, http.MethodGet, "/triggers", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("list triggers: %w", err)
	}
	return out.Triggers, nil
}

// DeleteTrigger deletes a trigger; the tasks it started stay.
func (c *Client) DeleteTrigger(ctx context.Context, name string) error {
	if _, err := c.do(ctx, http.MethodDelete, "/triggers/"+url.PathEscape(name), nil, nil, nil); err != nil {
		return fmt.Errorf("delete trigger %s: %w", name, err)
	}
	return nil
}

// PutNotifier creates or replaces a notifier (POST /notifiers) and
// returns it as stored, its secret masked.
func (c *Client) PutNotifier(ctx context.Context, n *store.Notifier) (*store.Notifier, error) {
	if n == nil {
		return nil, ErrNoRequest
	}
	var out store.Notifier
	if _, err := c.do(ctx, http.MethodPost, "/notifiers", nil, n, &out); err != nil {
		return nil, fmt.Errorf("put notifier %s: %w", n.Name, err)
	}
	return &out, nil
}

// Notifiers lists every notifier, by name, secrets masked.
func (c *Client) Notifiers(ctx context.Context) ([]store.Notifier, error) {
	var out struct{ Notifiers []store.Notifier }
	if _, err := c.do(ctx, http.MethodGet, "/notifiers", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("list notifiers: %w", err)
	}
	return out.Notifiers, nil
}

// DeleteNotifier deletes a notifier; its pending deliveries are dropped.
func (c *Client) DeleteNotifier(ctx context.Context, name string) error {
	if _, err := c.do(ctx, http.MethodDelete, "/notifiers/"+url.PathEscape(name), nil, nil, nil); err != nil {
		return fmt.Errorf("delete notifier %s: %w", name, err)
	}
	return nil
}
