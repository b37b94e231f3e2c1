package engine

import (
	"errors"

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
