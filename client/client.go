// Package client is a Go client of loom's HTTP API (package server), for
// programs that submit and watch tasks on a loom server, and for the loom
// command itself. Its methods mirror the API's operations one to one; an
// error the server answered is a *Error carrying the API's code.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// DefaultBaseURL is where `loom server` listens unless told otherwise.
const DefaultBaseURL = "http://127.0.0.1:7070"

// Client talks to one loom server. It is safe for concurrent use.
type Client struct {
	base string
	// HTTPClient sends the requests. Default http.DefaultClient; set it
	// before the first call to change timeouts or transport.
	HTTPClient *http.Client
	// Token, when set, is sent with every request as "Authorization:
	// Bearer <Token>": an API token made with `loom tokens create`. Set
	// it before the first call.
	Token string
}

// New returns a client of the server at baseURL (scheme, host and port,
// for example "http://127.0.0.1:7070"; a trailing "/api/v1" is accepted).
func New(baseURL string) *Client {
	base := strings.TrimRight(baseURL, "/")
	base = strings.TrimSuffix(base, "/api/v1")
	return &Client{base: base, HTTPClient: http.DefaultClient}
}

// SubmitRequest is a task to submit: the writable subset of the task
// object. Zero fields take the server's defaults.
type SubmitRequest struct {
	Type       string         `json:"type"`
	Queue      string         `json:"queue,omitempty"`
	Info       string         `json:"info,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
	Input      loom.Values    `json:"input,omitempty"`
	Priority   int            `json:"priority,omitempty"`
	// MaxAttempts defaults to the type's retry policy, at least 1.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Timeout is when the task expires: an RFC 3339 time, or a duration
	// from now such as "30m". Default 6h.
	Timeout string `json:"timeout,omitempty"`
	// RunAt delays the first attempt. Default now.
	RunAt *time.Time `json:"run_at,omitempty"`
	// IdempotencyKey makes a second submit with the same key return the
	// first task instead of creating another.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Retry, when set, is how long the task's retries wait, in place of
	// its type's policy; MaxAttempts (its own or its type's) must be 2 or
	// more.
	Retry *loom.TaskRetry `json:"retry,omitempty"`
}

// Submit creates a task. created is false when the idempotency key was
// already known and the existing task was returned.
func (c *Client) Submit(ctx context.Context, req *SubmitRequest) (task *loom.TaskInfo, created bool, err error) {
	if req == nil {
		return nil, false, ErrNoRequest
	}
	task = new(loom.TaskInfo)
	status, err := c.do(ctx, http.MethodPost, "/tasks", nil, req, task)
	if err != nil {
		return nil, false, fmt.Errorf("submit %s: %w", req.Type, err)
	}
	return task, status == http.StatusCreated, nil
}

// Get returns one task.
func (c *Client) Get(ctx context.Context, id string) (*loom.TaskInfo, error) {
	var task loom.TaskInfo
	if _, err := c.do(ctx, http.MethodGet, "/tasks/"+url.PathEscape(id), nil, nil, &task); err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	return &task, nil
}

// ListParams filter and page a task list; zero values mean no filter.
type ListParams struct {
	Status   []loom.Status
	Type     string
	Queue    string
	ParentID string
	// Text matches a substring of the id, type, info, msg or idempotency
	// key.
	Text string
	// Limit is the page size. Default 50, at most 1000.
	Limit int
	// Cursor is the previous page's Next.
	Cursor string
}

// TaskPage is one page of tasks, newest first.
type TaskPage struct {
	Tasks []*loom.TaskInfo `json:"tasks"`
	// Next is the cursor of the following page; empty on the last page.
	Next string `json:"next"`
}

// List returns a page of tasks.
func (c *Client) List(ctx context.Context, p ListParams) (*TaskPage, error) {
	q := url.Values{}
	for _, s := range p.Status {
		q.Add("status", string(s))
	}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("type", p.Type)
	set("queue", p.Queue)
	set("parent_id", p.ParentID)
	set("q", p.Text)
	set("cursor", p.Cursor)
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	var page TaskPage
	if _, err := c.do(ctx, http.MethodGet, "/tasks", q, nil, &page); err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	return &page, nil
}

// Children returns the steps of a flow task, oldest first.
func (c *Client) Children(ctx context.Context, id string) ([]*loom.TaskInfo, error) {
	var page TaskPage
	if _, err := c.do(ctx, http.MethodGet, "/tasks/"+url.PathEscape(id)+"/children", nil, nil, &page); err != nil {
		return nil, fmt.Errorf("steps of task %s: %w", id, err)
	}
	return page.Tasks, nil
}

// Cancel cancels a task that has not ended, and its unfinished steps;
// reason may be empty.
func (c *Client) Cancel(ctx context.Context, id, reason string) (*loom.TaskInfo, error) {
	var body any
	if reason != "" {
		body = map[string]string{"reason": reason}
	}
	var task loom.TaskInfo
	if _, err := c.do(ctx, http.MethodPost, "/tasks/"+url.PathEscape(id)+"/cancel", nil, body, &task); err != nil {
		return nil, fmt.Errorf("cancel task %s: %w", id, err)
	}
	return &task, nil
}

// Retry runs a failed or cancelled task again; input, when non-nil,
// replaces its input. For a flow the server re-runs the failed steps and
// what depends on them.
func (c *Client) Retry(ctx context.Context, id string, input loom.Values) (*loom.TaskInfo, error) {
	var body any
	if input != nil {
		body = map[string]any{"input": input}
	}
	var task loom.TaskInfo
	if _, err := c.do(ctx, http.MethodPost, "/tasks/"+url.PathEscape(id)+"/retry", nil, body, &task); err != nil {
		return nil, fmt.Errorf("retry task %s: %w", id, err)
	}
	return &task, nil
}

// LogsParams select log chunks.
type LogsParams struct {
	// Attempt picks one attempt; zero means every attempt.
	Attempt int
	// After skips chunks up to this sequence number, to follow a log.
	After int64
}

// Logs returns a task's captured output in order.
func (c *Client) Logs(ctx context.Context, id string, p LogsParams) ([]store.LogChunk, error) {
	q := url.Values{}
	if p.Attempt > 0 {
		q.Set("attempt", strconv.Itoa(p.Attempt))
	}
	if p.After > 0 {
		q.Set("after", strconv.FormatInt(p.After, 10))
	}
	var out struct {
		Logs []store.LogChunk `json:"logs"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/tasks/"+url.PathEscape(id)+"/logs", q, nil, &out); err != nil {
		return nil, fmt.Errorf("logs of task %s: %w", id, err)
	}
	return out.Logs, nil
}

// Events returns a task's state changes in order.
func (c *Client) Events(ctx context.Context, id string) ([]store.Event, error) {
	var out struct {
		Events []store.Event `json:"events"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/tasks/"+url.PathEscape(id)+"/events", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("events of task %s: %w", id, err)
	}
	return out.Events, nil
}

// Queues returns every queue with its settings and counts by status.
func (c *Client) Queues(ctx context.Context) ([]store.QueueInfo, error) {
	var out struct {
		Queues []store.QueueInfo `json:"queues"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/queues", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("queues: %w", err)
	}
	return out.Queues, nil
}

// Worker is one worker as GET /workers lists it.
type Worker struct {
	store.WorkerInfo
	// Alive is whether its last heartbeat is at most one lease old.
	Alive bool `json:"alive"`
}

// Workers returns the workers the server saw in the last day, most
// recently seen first.
func (c *Client) Workers(ctx context.Context) ([]Worker, error) {
	var out struct {
		Workers []Worker `json:"workers"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/workers", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	return out.Workers, nil
}

// Types returns the names of the task types the server runs, sorted.
func (c *Client) Types(ctx context.Context) ([]string, error) {
	var out struct {
		Types []string `json:"types"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/types", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("types: %w", err)
	}
	return out.Types, nil
}

// Health returns nil when the server answers its health check.
func (c *Client) Health(ctx context.Context) error {
	if _, err := c.do(ctx, http.MethodGet, "/healthz", nil, nil, nil); err != nil {
		return fmt.Errorf("health: %w", err)
	}
	return nil
}

// Wait polls the task every interval until it has ended (or ctx is done)
// and returns it; onChange, when non-nil, sees each state it polled.
func (c *Client) Wait(ctx context.Context, id string, interval time.Duration, onChange func(*loom.TaskInfo)) (*loom.TaskInfo, error) {
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		task, err := c.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if onChange != nil {
			onChange(task)
		}
		if task.Status.Terminal() {
			return task, nil
		}
		select {
		case <-ctx.Done():
			return task, fmt.Errorf("wait for task %s: %w", id, ctx.Err())
		case <-tick.C:
		}
	}
}

// do sends one API request: body (when non-nil) as JSON, and the answer
// decoded into out (when non-nil). It returns the HTTP status.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) (int, error) {
	u := c.base + "/api/v1" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	if method != http.MethodGet && method != http.MethodHead {
		// The server takes writes only as JSON, with or without a body.
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTPClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, decodeError(resp, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode answer: %w", err)
		}
	}
	return resp.StatusCode, nil
}

// BulkRequest chooses the top-level tasks a bulk retry or cancel acts on;
// every field is optional. A retry takes failed tasks by default (and
// cancelled ones when Status says so), a cancel pending ones (and running
// ones when asked).
type BulkRequest struct {
	Status        []loom.Status `json:"status,omitempty"`
	Type          string        `json:"type,omitempty"`
	Queue         string        `json:"queue,omitempty"`
	CreatedAfter  *time.Time    `json:"created_after,omitempty"`
	CreatedBefore *time.Time    `json:"created_before,omitempty"`
	// Limit bounds how many tasks one call acts on (server default 1000,
	// at most 10000); BulkResult.More says there were more.
	Limit  int    `json:"limit,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// BulkResult says what a bulk action did.
type BulkResult struct {
	Matched int      `json:"matched"`
	Acted   int      `json:"acted"`
	Skipped int      `json:"skipped"`
	More    bool     `json:"more"`
	IDs     []string `json:"ids"`
}

// BulkRetry retries every task req matches, as Retry does one.
func (c *Client) BulkRetry(ctx context.Context, req *BulkRequest) (*BulkResult, error) {
	return c.bulk(ctx, "retry", req)
}

// BulkCancel cancels every task req matches, as Cancel does one.
func (c *Client) BulkCancel(ctx context.Context, req *BulkRequest) (*BulkResult, error) {
	return c.bulk(ctx, "cancel", req)
}

func (c *Client) bulk(ctx context.Context, verb string, req *BulkRequest) (*BulkResult, error) {
	if req == nil {
		req = &BulkRequest{}
	}
	var out BulkResult
	if _, err := c.do(ctx, http.MethodPost, "/tasks:"+verb, nil, req, &out); err != nil {
		return nil, fmt.Errorf("bulk %s: %w", verb, err)
	}
	return &out, nil
}
