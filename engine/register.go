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
}
