package engine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// Errors callers branch on with errors.Is.
var (
	// ErrUnknownType is returned when a task is submitted (or executed) with
	// a type no handler or flow was registered under.
	ErrUnknownType = errors.New("engine: unknown task type")
	// ErrNotFound is returned when a task does not exist. It is the same
	// value as store.ErrNotFound and loom.ErrNotFound.
	ErrNotFound = store.ErrNotFound
	// ErrConflict is returned when a change does not apply to a task's
	// current state: cancelling an ended task, retrying a running one.
	ErrConflict = store.ErrConflict
	// ErrInvalid is returned for malformed parameters; the message says
	// which.
	ErrInvalid = errors.New("engine: invalid parameters")
	// ErrClosed is returned by calls made after Close.
	ErrClosed = errors.New("engine: closed")
	// ErrRefused is returned when Config.Admit refuses a task: it is
	// well-formed but not allowed on this engine.
	ErrRefused = errors.New("engine: refused")
	// ErrDuplicateType is returned by Register when a different task was
	// already registered under the same name.
	ErrDuplicateType = errors.New("engine: task type already registered")
)

// MissingInputError is returned by Submit when a flow is submitted without
// an input its definition declares (loom.FlowDef.Inputs, a flow file's
// "inputs:"). It matches ErrInvalid, so the HTTP API answers it with 422;
// Inputs names every input missing, in declaration order.
type MissingInputError struct {
	// Flow is the flow's task type.
	Flow string
	// Inputs are the declared inputs the submitted input lacks.
	Inputs []string
}

// Error names the flow and every missing input.
func (e *MissingInputError) Error() string {
	q := make([]string, len(e.Inputs))
	for i, in := range e.Inputs {
		q[i] = strconv.Quote(in)
	}
	noun := "input"
	if len(q) > 1 {
		noun = "inputs"
	}
	return fmt.Sprintf("flow %q: missing %s %s", e.Flow, noun, strings.Join(q, ", "))
}

// Is makes a MissingInputError match ErrInvalid.
func (e *MissingInputError) Is(target error) bool { return target == ErrInvalid }

// checkInputs returns a *MissingInputError when in lacks an input f
// declares.
func checkInputs(name string, f *loom.Flow, in loom.Values) error {
	var missing []string
	for _, k := range f.Inputs() {
		if _, ok := in[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return &MissingInputError{Flow: name, Inputs: missing}
	}
	return nil
}
