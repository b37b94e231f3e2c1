package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// StatsParams choose the window Stats summarises; see store.StatsParams.
type StatsParams = store.StatsParams

// StatsBucket counts what happened to tasks in one interval; see
// store.StatsBucket.
type StatsBucket = store.StatsBucket

// Stats is a time series of task activity, for an overview chart of
// throughput and failure rate; see store.Stats.
type Stats = store.Stats

// StatsStore is implemented by stores that compute Stats themselves (one
// aggregate query instead of reading tasks). Stats uses it when the
// engine's store has it; see store.StatsStore.
type StatsStore = store.StatsStore

// Stats summarises task activity since p.Since in buckets of p.Bucket.
func (e *Engine) Stats(ctx context.Context, p *StatsParams) (*Stats, error) {
	q := StatsParams{}
	if p != nil {
		q = *p
	}
	if q.Until.IsZero() {
		q.Until = e.clock.Now()
	}
	now := q.Until
	if q.Since.IsZero() {
		q.Since = now.Add(-time.Hour)
	}
	if q.Bucket <= 0 {
		q.Bucket = max(now.Sub(q.Since)/60, time.Second)
	}
	if q.Limit <= 0 {
		q.Limit = 5000
	}
	if ss, ok := e.store.(StatsStore); ok {
		st, err := ss.TaskStats(ctx, &q)
		if err != nil {
			return nil, fmt.Errorf("engine: stats: %w", err)
		}
		return st, nil
	}
	n := int(now.Sub(q.Since)/q.Bucket) + 1
	st := &Stats{Since: q.Since, Bucket: q.Bucket, Buckets: make([]StatsBucket, n)}
	for i := range st.Buckets {
		st.Buckets[i].Start = q.Since.Add(time.Duration(i) * q.Bucket)
	}
	at := func(t time.Time) *StatsBucket {
		i := int(t.Sub(q.Since) / q.Bucket)
		if i < 0 || i >= n {
			return nil
		}
		return &st.Buckets[i]
	}
	lp := &store.ListTasksParams{CreatedAfter: q.Since, Queue: q.Queue, Limit: min(q.Limit, 1000)}
	read := 0
	for {
		page, err := e.store.ListTasks(ctx, lp)
		if err != nil {
			return nil, fmt.Errorf("engine: stats: %w", err)
		}
		for _, t := range page.Tasks {
			if b := at(t.Created); b != nil {
				b.Created++
			}
			if t.Ended == nil {
				continue
			}
			b := at(*t.Ended)
			if b == nil {
				continue
			}
			switch t.Status {
			case loom.StatusCompleted:
				b.Completed++
			case loom.StatusFailed:
				b.Failed++
			case loom.StatusCancelled:
				b.Cancelled++
			}
		}
		read += len(page.Tasks)
		if page.Next == "" {
			return st, nil
		}
		if read >= q.Limit {
			st.Truncated = true
			return st, nil
		}
		lp.Cursor = page.Next
	}
}
