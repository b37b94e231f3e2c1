// Package store defines the seam between the durable engine and the
// database that keeps every task's state: the Store interface, its
// parameter and result types, and its errors. Backends live in
// subpackages (store/sqlite, store/postgres) and each passes the
// conformance suite in store/storetest against a real database.
//
// Every method that changes a task's state does so in one transaction that
// also appends an Event, so the event log is a complete history of state;
// progress (SetProgress) is a status reported often, not a change of
// state, and appends none.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/loomhq/loom"
)

// Errors callers branch on. Backends wrap them with context; match with
// errors.Is.
var (
	// ErrNotFound: the task (or queue, worker, log) does not exist.
	ErrNotFound = loom.ErrNotFound
	// ErrConflict: the change does not apply to the task's current state,
	// for example retrying a task that is still running.
	ErrConflict = errors.New("store: conflict with current state")
	// ErrInvalid: the parameters are malformed (an empty type, a bad
	// cursor); the message says which.
	ErrInvalid = errors.New("store: invalid parameters")
)

// Store keeps the state of the durable engine. Implementations are safe for
// concurrent use by many goroutines.
type Store interface {
	// InsertTasks creates tasks in one transaction. A task whose
	// IdempotencyKey is already taken, or a flow step (ParentID+Step)
	// that already exists, is not created: its result carries the
	// existing task and Existing=true. Missing ids, queues, times and
	// MaxAttempts are filled with the documented defaults.
	InsertTasks(ctx context.Context, p *InsertTasksParams) ([]InsertResult, error)
	// GetTask returns one task, or ErrNotFound.
	GetTask(ctx context.Context, id string) (*loom.TaskInfo, error)
	// ListTasks returns a page of tasks, newest first, filtered.
	ListTasks(ctx context.Context, p *ListTasksParams) (*TaskPage, error)
	// ListChildren returns the steps of a flow task, oldest first.
	ListChildren(ctx context.Context, parentID string) ([]*loom.TaskInfo, error)

	// ClaimTasks moves up to Limit pending tasks of Queue whose RunAt has
	// come to running, in priority order (highest first, then RunAt, then
	// id), incrementing Attempt and setting WorkerID, Started and
	// LeaseUntil. It never lets the queue's running count exceed
	// MaxRunning when that is positive.
	//
	// A claimed attempt is not known to have started until MarkStarted
	// says so: a claim only reserves the attempt number, and an attempt
	// released unstarted (Outcome.Unstarted) or whose lease lapses before
	// it is marked gives its number back (see ReapTasks), so that Attempt
	// counts runs, not claims.
	ClaimTasks(ctx context.Context, p *ClaimTasksParams) ([]*loom.TaskInfo, error)
	// ExtendLeases moves LeaseUntil forward for running tasks (matching id
	// and attempt, and WorkerID when set) and reports how many it
	// extended; a task no longer running in that attempt is left alone,
	// which tells its worker the attempt was taken away.
	ExtendLeases(ctx context.Context, p *ExtendLeasesParams) ([]LeaseOutcome, error)
	// SetProgress records how far running attempts have got (matching id
	// and attempt, and WorkerID when set), and reports how many it
	// changed; a report for an attempt no longer running is dropped. It
	// appends no event: progress is a status, reported often, not a
	// change of state. ClaimTasks clears a task's progress, so that each
	// attempt starts without.
	SetProgress(ctx context.Context, p *SetProgressParams) (int, error)
	// MarkStarted records that the handlers of running attempts (matching
	// id and attempt, and WorkerID when set) have started, and reports
	// which it marked. A marked attempt whose lease lapses counts as a run
	// lost without a result; an unmarked one as never started.
	MarkStarted(ctx context.Context, p *MarkStartedParams) ([]LeaseOutcome, error)
	// FinishTasks records the outcomes of attempts in one transaction: an
	// outcome applies only if the task is still running in that attempt
	// (otherwise its FinishResult has Applied=false), which makes a
	// duplicated delivery harmless.
	FinishTasks(ctx context.Context, p *FinishTasksParams) ([]FinishResult, error)
	// CancelTask cancels a task that has not ended and every descendant
	// that has not ended, returning the tasks it cancelled. Cancelling an
	// ended task is ErrConflict.
	CancelTask(ctx context.Context, p *CancelTaskParams) ([]*loom.TaskInfo, error)
	// RetryTask puts an ended failed or cancelled task back to pending with
	// a fresh attempt budget (optionally with new input). Retrying a task
	// that is pending, running or completed is ErrConflict.
	RetryTask(ctx context.Context, p *RetryTaskParams) (*loom.TaskInfo, error)
	// ReleaseTaskKey takes an idempotency key away from the ended task
	// that holds it, so that a new task can be created with the key: the
	// executor does so when the key's dedup window has passed or a failed
	// run released it. The task keeps its history; the release appends a
	// "key_released" event with the key as its Msg. A task that has not
	// ended is ErrConflict; one that does not hold the key (any more) is
	// left alone and is no error.
	ReleaseTaskKey(ctx context.Context, p *ReleaseTaskKeyParams) error
	// ReapTasks fails tasks past their Timeout and re-queues running tasks
	// whose lease lapsed, returning what it changed. Every lapse adds one
	// to the task's LeaseExpiries. A lapsed attempt that was never marked
	// started gives its attempt number back; one that was counts as a lost
	// run, and the task fails instead of going back to pending once it
	// has lost MaxLostRuns runs (a crash loop). Each lapse's event says
	// the lease expired.
	ReapTasks(ctx context.Context, p *ReapTasksParams) (*ReapResult, error)
	// NextRunAt returns the earliest RunAt among pending tasks of the
	// queues (all queues when empty); ok is false when there are none.
	NextRunAt(ctx context.Context, queues []string) (at time.Time, ok bool, err error)
	// NextTimeout returns the earliest Timeout among tasks that have not
	// ended, when the reaper next has one to fail; ok is false when there
	// are none.
	NextTimeout(ctx context.Context) (at time.Time, ok bool, err error)

	// AppendLogs appends captured output to attempts' logs.
	AppendLogs(ctx context.Context, chunks []LogChunk) error
	// GetLogs returns a task's log chunks in order, of one attempt or of
	// every attempt when Attempt is zero, from AfterSeq on.
	GetLogs(ctx context.Context, p *GetLogsParams) ([]LogChunk, error)
	// ListEvents returns events in the order they happened.
	ListEvents(ctx context.Context, p *ListEventsParams) ([]Event, error)

	// UpsertQueue creates or changes a queue's settings.
	UpsertQueue(ctx context.Context, q QueueConfig) error
	// ListQueues returns every queue that has settings or tasks, with
	// counts by status.
	ListQueues(ctx context.Context) ([]QueueInfo, error)
	// PruneTasks deletes up to Limit top-level tasks that ended before
	// EndedBefore, oldest first, each with its steps (and theirs), logs,
	// events and signals, in one transaction, and reports how many tasks
	// it deleted in all. A task any of whose steps has not ended is left.
	PruneTasks(ctx context.Context, p *PruneTasksParams) (int, error)
	// UpsertWorker records a worker's presence and heartbeat.
	UpsertWorker(ctx context.Context, w WorkerInfo) error
	// ListWorkers returns the workers seen since the given time.
	ListWorkers(ctx context.Context, seenSince time.Time) ([]WorkerInfo, error)
	// DeleteWorker forgets a worker that shut down.
	DeleteWorker(ctx context.Context, id string) error

	// StateManager makes the library's run state and idempotency records
	// durable.
	loom.StateManager

	// Close releases the database.
	Close() error
}

// InsertTasksParams are the tasks to create.
type InsertTasksParams struct {
	// Tasks to create. Zero fields get defaults: ID a new UUIDv7, Queue
	// "default", Status pending, Created and RunAt Now, Timeout
	// Created+6h, MaxAttempts 1.
	Tasks []*loom.TaskInfo
	// Now is the creation time used for defaults.
	Now time.Time
	// Actor, when set, is who asked (a token's name), recorded in the
	// data of each "created" event as "actor".
	Actor string
	// Claimed says that the tasks given running (Status running, with
	// Attempt, WorkerID, Started and LeaseUntil set) are claimed by their
	// insert, as ClaimTasks would have: each created one gets the
	// "started" event of a claim after its "created" one, and a task
	// whose queue is paused or has a positive Concurrency is created
	// pending instead (Attempt 0, without worker, Started or lease), left
	// for ClaimTasks to start when its queue allows. The result's Task
	// tells which became running. It spares an engine that will run a
	// task itself at once the claim's own transaction.
	Claimed bool
}

// InsertResult is the outcome of inserting one task.
type InsertResult struct {
	// Task is the created task, or the existing one.
	Task *loom.TaskInfo
	// Existing is true when the task was not created because its
	// idempotency key or flow step already existed.
	Existing bool
}

// ListTasksParams filter and page a task list. Zero values mean no filter.
type ListTasksParams struct {
	Status   []loom.Status
	Type     string
	Queue    string
	ParentID string
	// TopLevel keeps only tasks that are not flow steps.
	TopLevel bool
	// CreatedAfter and CreatedBefore bound Created.
	CreatedAfter  time.Time
	CreatedBefore time.Time
	// Text matches a substring of the id, type, info, msg or idempotency key.
	Text string
	// KeyPrefix keeps the tasks whose idempotency key starts with it: the
	// runs of one schedule ("schedule:<name>@"), of a trigger, of a
	// backfill. Unlike Text it can use the key's index, so it stays fast
	// however many tasks the store holds.
	KeyPrefix string
	// Limit is the page size. Default 50, at most 1000.
	Limit int
	// Cursor continues from a previous page's Next.
	Cursor string
}

// TaskPage is one page of a task list.
type TaskPage struct {
	Tasks []*loom.TaskInfo
	// Next is the cursor of the following page; empty on the last page.
	Next string
}

// ClaimTasksParams choose what a dispatcher takes to run.
type ClaimTasksParams struct {
	Queue      string
	Limit      int
	WorkerID   string
	Now        time.Time
	LeaseUntil time.Time
	// MaxRunning caps the queue's running tasks; zero means no cap.
	MaxRunning int
	// Brief asks for the claimed tasks with only the fields a dispatcher
	// needs to hand them to workers: ID, Type, Queue, Info, Attributes, Input,
	// Priority, Created, RunAt, Timeout, Attempt, MaxAttempts and
	// LeaseExpiries, besides Status, WorkerID, Started and LeaseUntil
	// which the claim sets; the other fields are zero. Reading every column back costs a claim about
	// as much as the claim itself. A store may return whole tasks anyway.
	// Default false: whole tasks.
	Brief bool
}

// ExtendLeasesParams extend the leases of a worker's running attempts.
type ExtendLeasesParams struct {
	Leases     []Lease
	LeaseUntil time.Time
	// WorkerID, when set, extends only attempts claimed by this worker:
	// an attempt number given back and claimed again by another worker
	// is not extended by the first.
	WorkerID string
}

// SetProgressParams are progress reports of running attempts.
type SetProgressParams struct {
	Reports []ProgressReport
	// WorkerID, when set, changes only attempts claimed by this worker.
	WorkerID string
}

// ProgressReport is the latest progress of one running attempt.
type ProgressReport struct {
	Lease
	loom.Progress
}

// MarkStartedParams name the attempts whose handlers have started.
type MarkStartedParams struct {
	Leases []Lease
	// WorkerID, when set, marks only attempts claimed by this worker.
	WorkerID string
}

// Lease names one running attempt.
type Lease struct {
	ID      string
	Attempt int
}

// LeaseOutcome says whether one lease was extended.
type LeaseOutcome struct {
	Lease
	// Extended is false when the task no longer runs in that attempt
	// (cancelled, reaped, finished): its worker should stop.
	Extended bool
	// Status is the task's current status.
	Status loom.Status
}

// FinishTasksParams record attempt outcomes.
type FinishTasksParams struct {
	Outcomes []Outcome
	Now      time.Time
	// Brief asks for the FinishResult.Task of each applied outcome with
	// only ID, Type, Queue, Status, Attempt and ParentID set, which is
	// what a recorder needs to tell flows and waiters; a task an outcome
	// did not apply to is whole. A store may return whole tasks anyway.
	// Default false: whole tasks.
	Brief bool
	// Started marks more attempts started, as MarkStarted does, in the
	// same transaction: a recorder tells the store of the handlers that
	// started since its last call at no extra cost.
	Started []Lease
}

// Outcome is how one attempt ended.
type Outcome struct {
	ID      string
	Attempt int
	// Status is completed, failed, or pending to retry at RetryAt.
	Status  loom.Status
	Output  loom.Values
	Msg     string
	RetryAt time.Time
	// Unstarted, with Status pending, says the attempt never started its
	// handler (claimed, then handed back at shutdown): it gives its
	// attempt number back, Attempt going down by one, so that it does not
	// use the task's budget.
	Unstarted bool
	// Started, when set, is when the worker started the attempt, by its
	// own account: it replaces the task's Started (the claim's time).
	Started time.Time
	// Ended, when set on a completed or failed outcome, is when the
	// worker ended the attempt: the task's Ended is set to it instead of
	// FinishTasksParams.Now. A pending outcome leaves Ended empty anyway.
	Ended time.Time
	// WorkerID, when set, applies the outcome only if the task's attempt
	// is still claimed by this worker: a result from a worker whose lease
	// lapsed is refused even when the attempt number, given back by the
	// lapse, was claimed again by another.
	WorkerID string
}

// FinishResult is the effect of one Outcome.
type FinishResult struct {
	// Task is the task after the change (or as it was, if not applied).
	Task *loom.TaskInfo
	// Applied is false when the task no longer ran in that attempt.
	Applied bool
}

// CancelTaskParams name the task to cancel.
type CancelTaskParams struct {
	ID     string
	Reason string
	Now    time.Time
	// Actor, when set, is recorded in the "cancelled" events' data.
	Actor string
}

// RetryTaskParams re-run an ended task.
type RetryTaskParams struct {
	ID string
	// Input, when non-nil, replaces the task's input.
	Input loom.Values
	// MaxAttempts is the fresh attempt budget; zero keeps the original.
	MaxAttempts int
	Now         time.Time
	// Actor, when set, is recorded in the "retried" event's data.
	Actor string
}

// ReleaseTaskKeyParams name the key to release and the task holding it.
type ReleaseTaskKeyParams struct {
	// Key is the idempotency key. Required.
	Key string
	// TaskID is the task that holds it. Required.
	TaskID string
	Now    time.Time
}

// ReapTasksParams say what the reaper considers expired.
type ReapTasksParams struct {
	// Now is the time task Timeouts are compared to.
	Now time.Time
	// LeaseNow is the time leases (LeaseUntil) are compared to; zero
	// means Now. The engine counts leases in real time whatever its Clock,
	// since a lease says whether a process is alive.
	LeaseNow time.Time
	// Limit bounds how many tasks one call changes. Default 1000.
	Limit int
	// MaxLostRuns is how many started attempts of a task may lose their
	// lease without a result before the task fails rather than going back
	// to pending. Zero or less means no limit.
	MaxLostRuns int
}

// ReapResult lists what the reaper changed.
type ReapResult struct {
	// Expired tasks passed their Timeout and were failed.
	Expired []*loom.TaskInfo
	// Requeued tasks lost their worker (lease lapsed) and are pending again.
	Requeued []*loom.TaskInfo
	// Lost tasks lost their worker once too often (MaxLostRuns) and were
	// failed, with a Msg that says so.
	Lost []*loom.TaskInfo
	// Lapsed names the attempts whose lease lapsed, those of Requeued and
	// Lost tasks, so that a worker still running one can stop it.
	Lapsed []Lease
}

// LostRunsMsg is the Msg of a task ReapTasks failed because maxLost of
// its started attempts lost their lease without a result: a crash loop.
func LostRunsMsg(maxLost int) string {
	return fmt.Sprintf("lease expired %d times while the task ran, without a result: its worker died or hung in every attempt; giving up", maxLost)
}

// LapsedUnstartedMsg is the Msg of the event of a task ReapTasks
// re-queued because the lease of attempt lapsed before its start was
// recorded: the attempt gives its number back.
func LapsedUnstartedMsg(attempt int) string {
	return fmt.Sprintf("lease expired before the start of attempt %d was recorded: re-queued, and the attempt does not count", attempt)
}

// LostRunMsg is the Msg of the event of a task ReapTasks re-queued because
// the lease of started attempt lapsed without a result: lost run number
// lost of at most maxLost (no bound when maxLost is not positive).
func LostRunMsg(attempt, lost, maxLost int) string {
	msg := fmt.Sprintf("lease expired while attempt %d ran, without a result: its worker died or hung; re-queued", attempt)
	if maxLost > 0 {
		msg += fmt.Sprintf(" (lost run %d of at most %d)", lost, maxLost)
	}
	return msg
}

// LogChunk is a piece of an attempt's captured output.
type LogChunk struct {
	TaskID  string    `json:"task_id"`
	Attempt int       `json:"attempt"`
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	// Stream is where the output came from: loom.LogStdout,
	// loom.LogStderr or loom.LogSystem. Empty is stored as stdout, what
	// every chunk was before streams were told apart.
	Stream string `json:"stream"`
	Data   string `json:"data"`
}

// LogStream is the stream a chunk is stored under: s, or stdout when s is
// empty. Stores refuse a stream loom.ValidLogStream does not know with
// ErrInvalid.
func LogStream(s string) string {
	if s == "" {
		return loom.LogStdout
	}
	return s
}

// GetLogsParams select log chunks.
type GetLogsParams struct {
	TaskID   string
	Attempt  int
	AfterSeq int64
	Limit    int
}

// Event is one state change of a task, appended in the transaction that
// made it.
type Event struct {
	Seq     int64          `json:"seq"`
	TaskID  string         `json:"task_id"`
	Type    string         `json:"type"`
	Time    time.Time      `json:"time"`
	Attempt int            `json:"attempt,omitempty"`
	Status  loom.Status    `json:"status,omitempty"`
	Msg     string         `json:"msg,omitempty"`
	Data    map[string]any `json:"data,omitempty"`
}

// ListEventsParams select events: of one task, or of all from AfterSeq on.
type ListEventsParams struct {
	TaskID   string
	AfterSeq int64
	Limit    int
}

// QueueConfig are a queue's settings.
type QueueConfig struct {
	Name string `json:"name"`
	// Concurrency caps the queue's running tasks; zero means no cap.
	Concurrency int `json:"concurrency"`
	// Paused queues keep their tasks but start none.
	Paused bool `json:"paused"`
}

// QueueInfo is a queue's settings and counts.
type QueueInfo struct {
	QueueConfig
	Pending   int `json:"pending"`
	Running   int `json:"running"`
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
	Cancelled int `json:"cancelled"`
}

// WorkerInfo is what the store knows of a worker.
type WorkerInfo struct {
	ID            string    `json:"id"`
	Hostname      string    `json:"hostname"`
	Queues        []string  `json:"queues"`
	Started       time.Time `json:"started"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
	// Running lists the ids of tasks the worker runs now.
	Running []string `json:"running"`
	// Concurrency is how many tasks the worker runs at once, zero when it
	// does not say (an engine, a pull worker).
	Concurrency int `json:"concurrency"`
	// InFlight is how many tasks the worker held at its last heartbeat:
	// running, or received and waiting for a free slot.
	InFlight int `json:"in_flight"`
	// Version is the worker's build, as it reports it; empty when unknown.
	Version string `json:"version,omitempty"`
}

// PruneTasksParams choose the ended tasks PruneTasks deletes.
type PruneTasksParams struct {
	// EndedBefore: only tasks that ended before it.
	EndedBefore time.Time
	// Queue, when set, prunes only that queue; Except leaves the queues it
	// lists alone (they are kept for a time of their own).
	Queue  string
	Except []string
	// Limit bounds the top-level tasks of one call: default
	// DefaultPruneLimit, at most MaxPruneLimit.
	Limit int
}

// Bounds of one PruneTasks call, so that its transaction stays short and
// submits never wait long behind it.
const (
	DefaultPruneLimit = 500
	MaxPruneLimit     = 5000
)

// PruneAll calls st.PruneTasks with p until a call deletes nothing, each
// batch its own short transaction, and reports how many tasks it deleted
// in all.
func PruneAll(ctx context.Context, st Store, p PruneTasksParams) (int, error) {
	total := 0
	for {
		n, err := st.PruneTasks(ctx, &p)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// Validate checks p and fills its defaults.
func (p *PruneTasksParams) Validate() error {
	switch {
	case p.EndedBefore.IsZero():
		return fmt.Errorf("prune: EndedBefore: %w: required", ErrInvalid)
	case p.Limit < 0 || p.Limit > MaxPruneLimit:
		return fmt.Errorf("prune: limit %d: %w: want 0 to %d", p.Limit, ErrInvalid, MaxPruneLimit)
	case p.Limit == 0:
		p.Limit = DefaultPruneLimit
	}
	return nil
}
