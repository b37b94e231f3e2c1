package engine

import (
	"github.com/loomhq/loom"
)

// RegisterOption changes how a task type is registered.
type RegisterOption func(*registration)

// WithQueue makes q the default queue of the type's tasks (a submit may
// still name another). Default "default". A task registered with WithQueue
// on its own keeps its queue as a step of a flow too: its steps go to q,
// not to the flow's queue. A flow's WithQueue applies to the flow and to
// those of its steps' tasks that were not registered on their own.
func WithQueue(q string) RegisterOption {
	return func(r *registration) { r.queue, r.ownQueue = q, true }
}

// viaFlow marks a registration made for a flow's step: the queue the flow
// was registered with is not the task's own.
func viaFlow(r *registration) { r.ownQueue = false }

// registration is one registered task type.
type registration struct {
	task  *loom.Task
	flow  *loom.Flow // set when task.Handler is a flow
	queue string
	// ownQueue is true when queue was given with WithQueue for the task
	// itself, which its flow steps then go to.
	ownQueue bool
	// fanOut is set for the type of a flow's fan-out step, whose tasks
	// the engine advances like flows; item is what each item runs.
	fanOut *loom.FanOut
	item   *loom.Task
}

// stepQueue is the queue of a step task of type typ in a flow on queue
// flowQueue: the queue the type was registered with on its own, else the
// flow's.
func (e *Engine) stepQueue(typ, flowQueue string) string {
	if reg := e.lookup(typ); reg != nil && reg.ownQueue {
		return reg.queue
	}
	return flowQueue
}

// advanced reports whether the type's tasks are advanced by the engine
// (flows and fan-out steps) rather than run by a worker.
func (r *registration) advanced() bool { return r.flow != nil || r.fanOut != nil }
