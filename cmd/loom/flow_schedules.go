package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/loomhq/loom/flowfile"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/taskmaster"
)

// flowSchedules are the schedules flow files declare, each creating a run
// of its file's flow with the schedule's input.
func flowSchedules(files []*flowfile.File) []*store.Schedule {
	var out []*store.Schedule
	for _, f := range files {
		for _, s := range f.Schedules {
			out = append(out, &store.Schedule{
				Def:  s.Def,
				Task: store.TaskTemplate{Type: f.Name, Input: s.Input.Clone()},
			})
		}
	}
	return out
}

// applyFlowSchedules creates the schedules of the flow files, or updates
// those a previous start created, keeping their state: a restart neither
// repeats nor loses a run, and a schedule paused through the API stays
// paused. Schedules no longer in any file are left alone.
func applyFlowSchedules(ctx context.Context, tm *taskmaster.Taskmaster, scs []*store.Schedule, logger *slog.Logger) error {
	for _, sc := range scs {
		info, changed, err := tm.EnsureSchedule(ctx, sc)
		if err != nil {
			return fmt.Errorf("schedule of flow %s: %w", sc.Task.Type, err)
		}
		if changed {
			logger.Info("flow schedule applied", "schedule", sc.Def.Name, "flow", sc.Task.Type, "cron", sc.Def.Cron, "paused", info.Def.Paused)
		}
	}
	return nil
}
