package engine

import (
	"github.com/loomhq/loom"
)

// RegisterOption changes how a task type is registered.
type RegisterOption func(*registration)

// WithQueue makes q the default queue of the type's tasks (a submit may
// still name another). Default "default".
func WithQueue(q string) RegisterOption {
	return func(r *registration) { r.queue = q }
}

// registration is one registered task type.
type registration struct {
	task  *loom.Task
	flow  *loom.Flow // set when task.Handler is a flow
	queue string
	// fanOut is set for the type of a flow's fan-out step, whose tasks
	// the engine advances like flows; item is what each item runs.
	fanOut *loom.FanOut
	item   *loom.Task
}

// advanced reports whether the type's tasks are advanced by the engine
// (flows and fan-out steps) rather than run by a worker.
func (r *registration) advanced() bool { return r.flow != nil || r.fanOut != nil }
