package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/loomhq/loom/client"
	"github.com/loomhq/loom/schedule"
	"github.com/loomhq/loom/store"
	"github.com/spf13/cobra"
)

func (m *Main) newSchedulesCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedules",
		Short: "Add, list, pause, resume, delete, trigger and backfill cron schedules, and cancel backfills",
	}
	action := func(use, short, action string) *cobra.Command {
		return &cobra.Command{
			Use: use + " NAME", Short: short, Args: exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				sc, err := g.client().ScheduleAction(cmd.Context(), args[0], action)
				if err != nil {
					return err
				}
				return m.printSchedule(g, sc)
			},
		}
	}
	cmd.AddCommand(
		m.newSchedulesAddCommand(g),
		m.newSchedulesListCommand(g),
		&cobra.Command{
			Use: "show NAME", Short: "Show a schedule, its next five fire times and its last run", Args: exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				sc, err := g.client().Schedule(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return m.printSchedule(g, sc)
			},
		},
		action("pause", "Pause a schedule: it creates no runs until resumed", "pause"),
		action("resume", "Resume a schedule from now on (times passed while paused are skipped)", "resume"),
		&cobra.Command{
			Use: "delete NAME", Short: "Delete a schedule; the tasks it created stay", Args: exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := g.client().DeleteSchedule(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(m.Stdout, "deleted %s\n", args[0])
				return nil
			},
		},
		&cobra.Command{
			Use: "trigger NAME", Short: "Create one run of a schedule now", Args: exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				task, err := g.client().TriggerSchedule(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(m.Stdout, task)
				}
				fmt.Fprintf(m.Stdout, "%s %s %s\n", task.ID, task.Type, task.Status)
				return nil
			},
		},
		m.newSchedulesBackfillCommand(g),
		&cobra.Command{
			Use: "backfill-cancel ID", Short: "Cancel a backfill: it creates no more runs; those created stay", Args: exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				b, err := client.New(g.server).CancelBackfill(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return m.printBackfill(g, b)
			},
		},
	)
	return cmd
}

func (m *Main) newSchedulesAddCommand(g *globals) *cobra.Command {
	var (
		req      client.ScheduleRequest
		input    string
		catchUp  string
		limit    int
		taskType string
	)
	cmd := &cobra.Command{
		Use:   "add NAME CRON",
		Short: "Add a schedule: CRON is 5 or 6 fields (seconds first), @every 10m, @daily...",
		Example: `  loom schedules add nightly-report "30 2 * * *" --tz Europe/Berlin --type report --input '{"region":"eu"}'
  loom schedules add poll "@every 10m" --type exec --input '{"command":["./poll.sh"]}' --overlap skip`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := parseInput(input)
			if err != nil {
				return err
			}
			if taskType == "" {
				return &usageError{fmt.Errorf("--type is required")}
			}
			req.Name, req.Cron = args[0], args[1]
			req.Task.Type, req.Task.Input = taskType, in
			if catchUp != "" || limit != 0 {
				req.CatchUp = &schedule.CatchUp{Mode: schedule.CatchUpMode(catchUp), Limit: limit}
			}
			sc, err := g.client().CreateSchedule(cmd.Context(), &req)
			if err != nil {
				return err
			}
			return m.printSchedule(g, sc)
		},
	}
	f := cmd.Flags()
	f.StringVar(&taskType, "type", "", "task type or flow each run creates (required)")
	f.StringVar(&input, "input", "", "the task's input, a JSON object")
	f.StringVar(&req.Task.Queue, "queue", "", "queue of the runs (default the type's)")
	f.StringVar(&req.Task.Timeout, "task-timeout", "", "how long each run may take, e.g. 30m (default 6h)")
	f.StringVar(&req.Timezone, "tz", "", "IANA time zone the expression is read in (default UTC)")
	f.StringVar(&req.Overlap, "overlap", "", "when runs are still active: skip (default), queue or allow")
	f.StringVar(&catchUp, "catch-up", "", "after downtime: skip_missed, run_once (default) or run_all")
	f.IntVar(&limit, "catch-up-limit", 0, "most missed runs run_all creates (default 10)")
	f.StringVar(&req.Jitter, "jitter", "", "delay each run by up to this, e.g. 30s")
	f.StringVar(&req.Grace, "grace", "", "how late a run still counts as on time (default 1m)")
	f.BoolVar(&req.Paused, "paused", false, "create the schedule paused")
	return cmd
}

func (m *Main) newSchedulesListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List schedules with their next fire time and last run",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			scs, err := g.client().Schedules(cmd.Context())
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(m.Stdout, scs)
			}
			printScheduleTable(m.Stdout, scs)
			return nil
		},
	}
}

func printScheduleTable(w io.Writer, scs []client.Schedule) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCRON\tTZ\tTYPE\tSTATE\tNEXT\tLAST RUN\tOUTCOME")
	for _, sc := range scs {
		state, next := "active", "-"
		if sc.Paused {
			state = "paused"
		}
		if len(sc.Next) > 0 {
			next = sc.Next[0].Local().Format(time.DateTime)
		}
		last, outcome := "-", "-"
		if sc.LastRun != nil {
			last = sc.LastRun.Created.Local().Format(time.DateTime)
			outcome = string(sc.LastRun.Status)
		}
		tz := sc.Timezone
		if tz == "" {
			tz = "UTC"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sc.Name, sc.Cron, tz, sc.Task.Type, state, next, last, outcome)
	}
	_ = tw.Flush()
}

func (m *Main) printSchedule(g *globals, sc *client.Schedule) error {
	if g.json {
		return printJSON(m.Stdout, sc)
	}
	w := m.Stdout
	tz := sc.Timezone
	if tz == "" {
		tz = "UTC"
	}
	fmt.Fprintf(w, "name:     %s\ncron:     %s (%s)\ntask:     %s %s\n", sc.Name, sc.Cron, tz, sc.Task.Type, compactJSON(sc.Task.Input))
	overlap := sc.Overlap
	if overlap == "" {
		overlap = string(schedule.OverlapSkip)
	}
	fmt.Fprintf(w, "overlap:  %s\n", overlap)
	if sc.Paused {
		fmt.Fprintln(w, "state:    paused")
	}
	if len(sc.Next) > 0 {
		times := make([]string, len(sc.Next))
		for i, t := range sc.Next {
			times[i] = t.Local().Format(time.DateTime)
		}
		fmt.Fprintf(w, "next:     %s\n", strings.Join(times, ", "))
	}
	if sc.LastRun != nil {
		fmt.Fprintf(w, "last run: %s %s %s\n", sc.LastRun.ID, sc.LastRun.Status, oneLine(sc.LastRun.Msg, 60))
	}
	return nil
}

func (m *Main) newSchedulesBackfillCommand(g *globals) *cobra.Command {
	var (
		from, to string
		rate     int
		wait     bool
	)
	cmd := &cobra.Command{
		Use:   "backfill NAME --from TIME --to TIME",
		Short: "Create a schedule's runs for every period in [from, to); a repeat creates nothing new",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseTimeFlag("--from", from)
			if err != nil {
				return err
			}
			t, err := parseTimeFlag("--to", to)
			if err != nil {
				return err
			}
			c := g.client()
			b, err := c.Backfill(cmd.Context(), &client.BackfillRequest{Schedule: args[0], From: f, To: t, Rate: rate})
			if err != nil {
				return err
			}
			for wait && !b.Done {
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(500 * time.Millisecond):
				}
				if b, err = c.GetBackfill(cmd.Context(), b.ID); err != nil {
					return err
				}
			}
			return m.printBackfill(g, b)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "start of the range, RFC 3339 or YYYY-MM-DD (required)")
	fl.StringVar(&to, "to", "", "end of the range, exclusive (required)")
	fl.IntVar(&rate, "rate", 0, "runs created per second (default 10)")
	fl.BoolVar(&wait, "wait", false, "wait until every run is created")
	return cmd
}

func (m *Main) printBackfill(g *globals, b *store.Backfill) error {
	if g.json {
		return printJSON(m.Stdout, b)
	}
	state := b.Status
	if state == "" { // stored by a version without states
		state = store.BackfillRunning
		if b.Done {
			state = store.BackfillDone
		}
	}
	fmt.Fprintf(m.Stdout, "%s %s: %d created, %d existed\n", b.ID, state, b.Created, b.Existing)
	if b.Error != "" {
		fmt.Fprintf(m.Stdout, "error: %s\n", b.Error)
	}
	return nil
}

// parseTimeFlag reads an RFC 3339 time or a date (midnight UTC).
func parseTimeFlag(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, &usageError{fmt.Errorf("%s is required", name)}
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, &usageError{fmt.Errorf("%s %q is neither RFC 3339 nor YYYY-MM-DD", name, v)}
}
