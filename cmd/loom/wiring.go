package main

import (
	"fmt"
	"maps"
	"slices"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/flowfile"
	"github.com/loomhq/loom/runtime"
	"github.com/loomhq/loom/runtime/dockerrt"
	"github.com/loomhq/loom/store"
)

// builtinHandlers are the task types `loom run` registers: exec and http,
// unrestricted, as the flow file run is the user's own. A server's come
// from runtimeOptions.handlers.
func builtinHandlers() map[string]loom.Handler { return runtime.Builtins() }

// builtinTasks are the built-in types as tasks, for the "type:" steps of
// the flow file `loom run` runs.
func builtinTasks() flowfile.Tasks {
	reg := flowfile.Tasks{}
	hs := builtinHandlers()
	for _, name := range slices.Sorted(maps.Keys(hs)) {
		reg[name] = loom.NewTask(name, hs[name])
	}
	return reg
}

// loadFlowDir parses every flow file in dir. They are read before the
// engine is built, which needs their allow_exec patterns, and built once
// it runs (buildFlows), which the wait type needs.
func loadFlowDir(dir string) ([]*flowfile.File, error) {
	files, err := flowfile.LoadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load flows from %s: %w", dir, err)
	}
	return files, nil
}

// buildFlows builds flow files, and returns the flows with the schedules
// the files declare; a flow file's steps may use the built-in types of
// builtins, the extra types given and the flows of files before it.
func buildFlows(files []*flowfile.File, builtins flowfile.Tasks, extra ...*loom.Task) ([]*loom.Task, []*store.Schedule, error) {
	reg := maps.Clone(builtins)
	for _, t := range extra {
		reg[t.Name] = t
	}
	tasks := make([]*loom.Task, 0, len(files))
	for _, f := range files {
		t, err := f.Build(reg)
		if err != nil {
			return nil, nil, fmt.Errorf("build flow: %w", err)
		}
		reg[t.Name] = t
		tasks = append(tasks, t)
	}
	return tasks, flowSchedules(files), nil
}

// loadFlowFile builds the flow file at path, its docker steps on docker
// when it is not nil.
func loadFlowFile(path string, docker loom.Handler) (*loom.Task, error) {
	f, err := flowfile.Load(path)
	if err != nil {
		return nil, fmt.Errorf("load flow: %w", err)
	}
	reg := builtinTasks()
	if docker != nil {
		reg[dockerrt.TypeName] = loom.NewTask(dockerrt.TypeName, docker)
	}
	t, err := f.Build(reg)
	if err != nil {
		return nil, fmt.Errorf("build flow: %w", err)
	}
	return t, nil
}
