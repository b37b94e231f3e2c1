package flowfile

import (
	"fmt"

	"github.com/loomhq/loom"
)

// Error is what is wrong with a flow file, and where: the file, the line
// and, when the problem is inside a step, the step's name, so that an editor
// or a CI log points straight at it. Every error Parse and Build return for a
// bad file is an *Error, and matches loom.ErrInvalidFlow with errors.Is.
type Error struct {
	// File is the file name given to Parse (the path, for Load and LoadDir).
	File string
	// Line is the 1-based line the problem is on; 0 when it concerns the
	// whole file.
	Line int
	// Step is the name of the step the problem is in, if any.
	Step string
	// Msg says what is wrong.
	Msg string

	err error // the error from loom.NewFlow this one was made from, if any
}

// Error formats e as "file:line: step "name": msg", leaving out the parts
// that are not known.
func (e *Error) Error() string {
	where := e.File
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Step != "" {
		return fmt.Sprintf("%s: step %q: %s", where, e.Step, e.Msg)
	}
	return fmt.Sprintf("%s: %s", where, e.Msg)
}

// Is makes errors.Is(err, loom.ErrInvalidFlow) true.
func (e *Error) Is(target error) bool { return target == loom.ErrInvalidFlow }

// Unwrap returns the *loom.FlowError e was made from, if any.
func (e *Error) Unwrap() error { return e.err }
