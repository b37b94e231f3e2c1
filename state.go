package loom

import (
	"context"
	"time"
)

// RunState is the persisted state of one run of a task or flow: the seed's
// workflow state.
type RunState struct {
	// RunID identifies the run.
	RunID string `json:"run_id"`
	// ParentRunID is the flow run this run is a step of, if any.
	ParentRunID string `json:"parent_run_id,omitempty"`
	// Task is the name of the task or flow.
	Task string `json:"task"`
	// Status is where the run stands.
	Status Status `json:"status"`
	// Input and Output are the run's inputs and, once completed, outputs.
	Input  Values `json:"input,omitempty"`
	Output Values `json:"output,omitempty"`
	// Error is the last error's text, for failed and cancelled runs.
	Error string `json:"error,omitempty"`
	// Attempts is how many attempts have started.
	Attempts int `json:"attempts"`
	// Started and Ended bound the run; zero while not yet known.
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// Steps holds the state of each step, by step name, for flow runs.
	Steps map[string]StepState `json:"steps,omitempty"`
}

// StepState is the persisted state of one step of a flow run.
type StepState struct {
	// Name is the step's name within the flow.
	Name string `json:"name"`
	// Status is PENDING until the step runs, then RUNNING, then one of
	// COMPLETED, FAILED, SKIPPED or CANCELLED.
	Status Status `json:"status"`
	// Attempts is how many attempts have started.
	Attempts int `json:"attempts"`
	// Started and Ended bound the step; zero while not yet known.
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// Error is the last error's text.
	Error string `json:"error,omitempty"`
	// Output is what the step returned, kept so that a resumed or retried
	// flow can reuse it.
	Output Values `json:"output,omitempty"`
}

// StateManager persists the state of runs and their steps, and the
// idempotency records (the seed's StateManager). MemoryState is the
// in-memory implementation; the durable engine's store is another.
// Implementations must be safe for concurrent use.
type StateManager interface {
	// SaveRun creates or replaces run's own fields. Steps already saved
	// with SaveStep are kept when run.Steps is nil.
	SaveRun(ctx context.Context, run RunState) error
	// SaveStep creates or replaces one step's state in the run runID.
	SaveStep(ctx context.Context, runID string, step StepState) error
	// LoadRun returns the run runID with its steps, or an error matching
	// ErrNotFound.
	LoadRun(ctx context.Context, runID string) (RunState, error)
	IdempotencyStore
}
