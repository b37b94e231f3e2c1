package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// Bounds of one bulk action: a filter that matches more acts on the first
// BulkLimit tasks, newest first, and says there are more, so that one
// request never holds the store for long; calling again acts on the rest,
// since the tasks acted on no longer match.
const (
	DefaultBulkLimit = 1000
	MaxBulkLimit     = 10000
)

// BulkParams choose the top-level tasks a bulk retry or cancel acts on:
// every task matching all the fields set. Flow steps are acted on through
// their flow.
type BulkParams struct {
	// Status defaults to failed for a retry and pending for a cancel; a
	// retry takes only failed and cancelled, a cancel only pending and
	// running.
	Status []loom.Status
	// Type and Queue, when set, must match exactly.
	Type  string
	Queue string
	// CreatedAfter and CreatedBefore bound when the task was created.
	CreatedAfter  time.Time
	CreatedBefore time.Time
	// Limit bounds how many tasks are acted on: default DefaultBulkLimit,
	// at most MaxBulkLimit.
	Limit int
	// DryRun counts the matching tasks without acting on them.
	DryRun bool
	// Reason is recorded on cancelled tasks.
	Reason string
}

// BulkResult says what a bulk action did.
type BulkResult struct {
	// Matched is how many tasks matched, up to the limit.
	Matched int `json:"matched"`
	// Acted is how many were retried or cancelled; zero on a dry run.
	Acted int `json:"acted"`
	// Skipped is how many had changed state between matching and acting
	// (a pending task that started, a failed one already retried).
	Skipped int `json:"skipped"`
	// More says that more tasks matched than the limit let through.
	More bool `json:"more"`
	// IDs are the tasks acted on (on a dry run, those that would be).
	IDs []string `json:"ids"`
}

// BulkRetry retries every ended failed (or, if asked, cancelled) task that
// p matches, as Retry does one. Running it again acts only on tasks that
// have failed since.
func (e *Engine) BulkRetry(ctx context.Context, p *BulkParams) (*BulkResult, error) {
	return e.bulk(ctx, p, "retry", []loom.Status{loom.StatusFailed},
		[]loom.Status{loom.StatusFailed, loom.StatusCancelled},
		func(id string) error { _, err := e.Retry(ctx, id, nil); return err })
}

// BulkCancel cancels every pending (or, if asked, running) task that p
// matches, as Cancel does one, with their unfinished steps.
func (e *Engine) BulkCancel(ctx context.Context, p *BulkParams) (*BulkResult, error) {
	reason := "cancelled in bulk"
	if p != nil && p.Reason != "" {
		reason = p.Reason
	}
	return e.bulk(ctx, p, "cancel", []loom.Status{loom.StatusPending},
		[]loom.Status{loom.StatusPending, loom.StatusRunning},
		func(id string) error { _, err := e.Cancel(ctx, id, reason); return err })
}

// bulk lists what p matches, page by page, and applies act to each task;
// a task that act finds in another state (ErrConflict) is skipped.
func (e *Engine) bulk(ctx context.Context, p *BulkParams, verb string, defaults, allowed []loom.Status, act func(id string) error) (*BulkResult, error) {
	if err := e.checkOpen(); err != nil {
		return nil, err
	}
	if p == nil {
		p = &BulkParams{}
	}
	status := p.Status
	if len(status) == 0 {
		status = defaults
	}
	for _, s := range status {
		if !slices.Contains(allowed, s) {
			return nil, fmt.Errorf("bulk %s: status %q: %w: a %s takes %v", verb, s, ErrInvalid, verb, allowed)
		}
	}
	limit := p.Limit
	switch {
	case limit < 0 || limit > MaxBulkLimit:
		return nil, fmt.Errorf("bulk %s: limit %d: %w: want 1 to %d", verb, limit, ErrInvalid, MaxBulkLimit)
	case limit == 0:
		limit = DefaultBulkLimit
	}
	lp := &store.ListTasksParams{
		Status: status, Type: p.Type, Queue: p.Queue, TopLevel: true,
		CreatedAfter: p.CreatedAfter, CreatedBefore: p.CreatedBefore,
	}
	// Listing everything before acting keeps a retried task, which
	// matches no more, from shifting the pages under the loop.
	var ids []string
	for {
		lp.Limit = min(1000, limit+1-len(ids))
		page, err := e.store.ListTasks(ctx, lp)
		if err != nil {
			return nil, fmt.Errorf("bulk %s: list tasks: %w", verb, err)
		}
		for _, t := range page.Tasks {
			ids = append(ids, t.ID)
		}
		if page.Next == "" || len(ids) > limit {
			break
		}
		lp.Cursor = page.Next
	}
	out := &BulkResult{IDs: []string{}}
	if len(ids) > limit {
		ids, out.More = ids[:limit], true
	}
	out.Matched = len(ids)
	if p.DryRun {
		out.IDs = ids
		return out, nil
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("bulk %s: %w", verb, err)
		}
		switch err := act(id); {
		case err == nil:
			out.Acted++
			out.IDs = append(out.IDs, id)
		case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
			out.Skipped++
		default:
			return out, fmt.Errorf("bulk %s of %s: %w", verb, id, err)
		}
	}
	return out, nil
}
