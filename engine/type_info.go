package engine

import (
	"slices"

	"github.com/loomhq/loom"
)

// TypeInfo describes a registered task type, so that surfaces (the web UI,
// the API) can show what an engine runs and draw a flow's steps without
// keeping a registry of their own.
type TypeInfo struct {
	// Name is the type's name, the Type of its tasks.
	Name string
	// Queue is the queue its tasks go to when a submit names none.
	Queue string
	// Task is the registered definition: its handler, retry policy,
	// timeout and breaker. Callers must not change it.
	Task *loom.Task
	// Flow is the task's flow when the type is a flow, else nil.
	Flow *loom.Flow
}

// TypeInfo returns the registration of the named type; ok is false when
// no such type is registered.
func (e *Engine) TypeInfo(name string) (info TypeInfo, ok bool) {
	reg := e.lookup(name)
	if reg == nil {
		return TypeInfo{}, false
	}
	return typeInfoOf(name, reg), true
}

// TypeInfos returns every registered type, sorted by name.
func (e *Engine) TypeInfos() []TypeInfo {
	e.mu.RLock()
	out := make([]TypeInfo, 0, len(e.types))
	for name, reg := range e.types {
		out = append(out, typeInfoOf(name, reg))
	}
	e.mu.RUnlock()
	slices.SortFunc(out, func(a, b TypeInfo) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

func typeInfoOf(name string, reg *registration) TypeInfo {
	q := reg.queue
	if q == "" {
		q = loom.DefaultQueue
	}
	return TypeInfo{Name: name, Queue: q, Task: reg.task, Flow: reg.flow}
}
