package main

import (
	"fmt"

	"github.com/loomhq/loom"
)

// stepTypesPerFlow returns flow t with every step's task renamed to
// "<flow>/<step>", recursively into nested flows. A flow file's exec and
// http steps are all tasks named "exec" or "http", each with a handler of
// its own (the step's templates), and the engine registers a step's task
// under its name; without distinct names the second such step is a
// duplicate type. A task that is not a flow is returned as it is.
func stepTypesPerFlow(t *loom.Task) (*loom.Task, error) {
	f, ok := t.Handler.(*loom.Flow)
	if !ok {
		return t, nil
	}
	def := loom.FlowDef{Inputs: f.Inputs()}
	for _, info := range f.Steps() {
		s, _ := f.Step(info.Name)
		task := *s.Task
		task.Name = t.Name + "/" + info.Name
		renamed, err := stepTypesPerFlow(&task)
		if err != nil {
			return nil, err
		}
		s.Task = renamed
		def.Steps = append(def.Steps, s)
	}
	rebuilt, err := loom.NewFlow(t.Name, def)
	if err != nil {
		return nil, fmt.Errorf("flow %s: name step types: %w", t.Name, err)
	}
	out := *t
	out.Handler = rebuilt.Handler
	return &out, nil
}
