package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/loomhq/loom/flowfile"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/taskmaster"
)

// flowScheduleAttr marks the schedules (and so their runs) that come from
// flow files, which a server started on a flows directory owns: one no
// file declares any more is deleted.
const flowScheduleAttr = "flow_schedule"

// flowSchedules are the schedules flow files declare, each creating a run
// of its file's flow with the schedule's input.
func flowSchedules(files []*flowfile.File) []*store.Schedule {
	var out []*store.Schedule
	for _, f := range files {
		for _, s := range f.Schedules {
			out = append(out, &store.Schedule{
				Def:  s.Def,
				Task: store.TaskTemplate{Type: f.Name, Input: s.Input.Clone(), Attributes: map[string]any{flowScheduleAttr: true}},
			})
		}
	}
	return out
}

// applyFlowSchedules creates the schedules of the flow files, or updates
// those a previous start created, keeping their state: a restart neither
// repeats nor loses a run, and a schedule paused through the API stays
// paused. A schedule a flow file declared before and none declares now is
// deleted (the tasks it created stay); schedules made through the API or
// the CLI are left alone.
func applyFlowSchedules(ctx context.Context, tm *taskmaster.Taskmaster, scs []*store.Schedule, logger *slog.Logger) error {
	declared := make(map[string]bool, len(scs))
	for _, sc := range scs {
		declared[sc.Def.Name] = true
		info, changed, err := tm.EnsureSchedule(ctx, sc)
		if err != nil {
			return fmt.Errorf("schedule of flow %s: %w", sc.Task.Type, err)
		}
		if changed {
			logger.Info("flow schedule applied", "schedule", sc.Def.Name, "flow", sc.Task.Type, "cron", sc.Def.Cron, "paused", info.Def.Paused)
		}
	}
	all, err := tm.Schedules(ctx)
	if err != nil {
		return fmt.Errorf("flow schedules: %w", err)
	}
	for _, sc := range all {
		if fromFile, _ := sc.Task.Attributes[flowScheduleAttr].(bool); !fromFile || declared[sc.Def.Name] {
			continue
		}
		if err := tm.DeleteSchedule(ctx, sc.Def.Name); err != nil {
			return fmt.Errorf("delete schedule %s, which no flow file declares any more: %w", sc.Def.Name, err)
		}
		logger.Info("flow schedule removed: no flow file declares it any more", "schedule", sc.Def.Name, "flow", sc.Task.Type)
	}
	return nil
}
