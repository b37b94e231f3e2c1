package store

import (
	"context"
	"time"
)

// StatsParams choose the window a task activity summary covers.
type StatsParams struct {
	// Since is the start of the window. Default one hour before Until.
	Since time.Time
	// Until is the end of the window: the last bucket is the one Until
	// falls in. Default now (the engine fills it from its clock).
	Until time.Time
	// Queue, when set, counts only that queue's tasks.
	Queue string
	// Bucket is the width of one point of the series. Default a sixtieth
	// of the window, at least a second.
	Bucket time.Duration
	// Limit bounds how many tasks a summary computed from a task list
	// (for stores without StatsStore) reads; beyond it the series covers
	// the newest tasks only and Stats.Truncated is set. Default 5,000.
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
// throughput and failure rate. It covers the tasks created in the window:
// a task created before Since that ends in the window is not counted.
type Stats struct {
	Since   time.Time     `json:"since"`
	Bucket  time.Duration `json:"bucket"`
	Buckets []StatsBucket `json:"buckets"`
	// Truncated is true when the series was computed from a sample.
	Truncated bool `json:"truncated"`
}

// StatsStore is implemented by stores that summarise task activity
// themselves, with aggregate queries instead of reading every task of the
// window. It is optional: the engine detects it with a type assertion
// and otherwise reads the tasks. TaskStats gets p with every default
// filled in, and returns one bucket for each Bucket from Since up to and
// including the one Until falls in.
type StatsStore interface {
	TaskStats(ctx context.Context, p *StatsParams) (*Stats, error)
}
