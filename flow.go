package loom

import "context"

// FlowDef is the body of a flow (the seed's CompositeTask): the inputs the
// caller supplies and the steps wired from them.
type FlowDef struct {
	// Inputs are the keys the caller passes to the flow. A step's Requires
	// may name them as well as keys earlier steps provide.
	Inputs []string
	// Steps are the flow's steps. Their order is kept for SyncExecutor and
	// for steps the DAG leaves unordered.
	Steps []Step
}

// Step is one step of a flow: a task and how it is wired into the flow's
// data.
type Step struct {
	// Name names the step within the flow. Default: Task.Name.
	Name string
	// Task is what the step runs; a flow built with NewFlow nests here.
	Task *Task
	// Requires maps each of the task's input names to the flow data key it
	// reads (the seed's requires={"input_data": "raw_data"}). When nil, the
	// step receives the flow's inputs as given.
	Requires map[string]string
	// Provides maps each of the task's output names to the flow data key it
	// writes (the seed's provides={"ingested_data": "raw_data"}). The flow's
	// output is the union of every provided key.
	Provides map[string]string
	// DependsOn names steps that must end first even though no data passes
	// between them.
	DependsOn []string
	// If, when set, is asked before the step runs, with the flow's data so
	// far; false skips the step (status SKIPPED), and the keys it would
	// provide stay unset.
	If func(data Values) bool
	// Compensate, when set, runs if the flow fails after this step
	// completed, in reverse order of completion (a saga). It gets the step's
	// inputs merged with its outputs.
	Compensate *Task
	// FanOut, when set, makes the step map Task over a list (see FanOut).
	FanOut *FanOut
}

// PartialFailure says what a fan-out does when some items fail.
type PartialFailure int

const (
	// FailFast fails the fan-out step at the first failed item, cancelling
	// items still running.
	FailFast PartialFailure = iota
	// CollectAndContinue runs every item and completes the step with the
	// failures listed alongside the results.
	CollectAndContinue
)

// FanOut maps a step's task over a list produced at run time. The step's
// output is {"results": [...], "errors": [...], "failed": n}: one entry per
// item, in the list's order, results[i] the item's output (nil if it
// failed) and errors[i] its error text ("" if it completed). A later step
// fans in by requiring "results" (renamed through Provides as usual).
type FanOut struct {
	// Over is the step input (after Requires) that holds the list.
	Over string
	// As is the input name under which each item is passed to Task; the
	// step's other inputs are passed alongside. Default "item".
	As string
	// Parallelism bounds how many items run at once. Default: the
	// executor's Parallelism.
	Parallelism int
	// OnFailure picks fail-fast (default) or collect-and-continue.
	OnFailure PartialFailure
}

// Flow is a validated DAG of steps: the Handler of a Task built by NewFlow.
// Executors run its steps with their own concurrency; Handle runs them one
// at a time, which is what a plain handler call gets.
type Flow struct{}

// NewFlow builds and validates a flow and returns it as a Task named name,
// whose Handler is the *Flow. Validation errors match ErrInvalidFlow and
// name the problem: a cycle (with its steps), a required key that no
// earlier step or flow input provides, a duplicate or missing step name, an
// unknown DependsOn.
func NewFlow(name string, def FlowDef) (*Task, error) { panic("not implemented") }

// Handle runs the flow's steps in order in the calling goroutine.
func (f *Flow) Handle(ctx context.Context, in Values) (Values, error) { panic("not implemented") }
