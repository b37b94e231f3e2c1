package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// StatsParams choose the window Stats summarises.
type StatsParams struct {
	// Since is the start of the window. Default one hour ago.
	Since time.Time
	// Queue, when set, counts only that queue's tasks.
	Queue string
	// Bucket is the width of one point of the series. Default a sixtieth
	// of the window.
	Bucket time.Duration
	// Limit bounds how many tasks the fallback (for stores without
	// StatsStore) reads; beyond it the series covers the newest tasks only
	// and Stats.Truncated is set. Default 5,000.
	Limit int
}

// StatsBucket counts what happened to tasks in one interval.
type StatsBucket struct {
	// Start is the beginning of the interval.
	Start time.Time `json:"start"`
	// Created counts tasks created; Completed, Failed and Cancelled count
	// tasks that ended so in the interval.
	Created   int `json:"created"`
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
	Cancelled int `json:"cancelled"`
}

// Stats is a time series of task activity, for an overview chart of
// throughput and failure rate.
type Stats struct {
	Since   time.Time     `json:"since"`
	Bucket  time.Duration `json:"bucket"`
	Buckets []StatsBucket `json:"buckets"`
	// Truncated is true when the series was computed from a sample.
	Truncated bool `json:"truncated"`
}

// StatsStore is implemented by stores that compute Stats themselves (one
// aggregate query instead of reading tasks). Stats uses it when the
// engine's store has it.
type StatsStore interface {
	TaskStats(ctx context.Context, p *StatsParams) (*Stats, error)
}

// Stats summarises task activity since p.Since in buckets of p.Bucket.
func (e *Engine) Stats(ctx context.Context, p *StatsParams) (*Stats, error) {
	q := StatsParams{}
	if p != nil {
		q = *p
	}
	now := e.clock.Now()
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
