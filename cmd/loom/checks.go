package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func (m *Main) newChecksCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "checks",
		Short: "Heartbeat checks: alert when an outside job stops pinging",
	}
	var grace string
	add := &cobra.Command{
		Use: "add NAME PERIOD", Short: "Add a check that expects a ping every PERIOD (e.g. 1h)", Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client().CreateCheck(cmd.Context(), args[0], args[1], grace)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(m.Stdout, c)
			}
			fmt.Fprintf(m.Stdout, "%s: ping %s/api/v1/checks/%s/ping every %s; late after %s\n", c.Name, g.server, c.Name, c.Period, c.Due.Local().Format(time.DateTime))
			return nil
		},
	}
	add.Flags().StringVar(&grace, "grace", "", "how late a ping may be before the alert (default 0)")
	cmd.AddCommand(add,
		&cobra.Command{
			Use: "list", Short: "List checks", Args: exactArgs(0),
			RunE: func(cmd *cobra.Command, _ []string) error {
				cs, err := g.client().Checks(cmd.Context())
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(m.Stdout, cs)
				}
				tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tPERIOD\tGRACE\tLAST PING\tSTATE")
				for _, c := range cs {
					last, state := "-", "ok"
					if c.LastPing != nil {
						last = c.LastPing.Local().Format(time.DateTime)
					}
					if c.Late {
						state = "LATE"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Name, c.Period, c.Grace, last, state)
				}
				return tw.Flush()
			},
		},
		&cobra.Command{
			Use: "ping NAME", Short: "Ping a check", Args: exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := g.client().PingCheck(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(m.Stdout, c)
				}
				fmt.Fprintf(m.Stdout, "%s: pinged (%d pings); next ping due by %s\n", c.Name, c.Pings, c.Due.Local().Format(time.DateTime))
				return nil
			},
		},
		&cobra.Command{
			Use: "delete NAME", Short: "Delete a check", Args: exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return g.client().DeleteCheck(cmd.Context(), args[0])
			},
		},
	)
	return cmd
}

func (m *Main) newAlertsCommand(g *globals) *cobra.Command {
	var open bool
	cmd := &cobra.Command{
		Use: "alerts", Short: "List alerts, newest first", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			as, err := g.client().Alerts(cmd.Context(), open)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(m.Stdout, as)
			}
			tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tSUBJECT\tOPENED\tRESOLVED\tMESSAGE")
			for _, a := range as {
				resolved := "open"
				if a.Resolved != nil {
					resolved = a.Resolved.Local().Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Kind, a.Subject, a.Opened.Local().Format(time.DateTime), resolved, oneLine(a.Message, 70))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&open, "open", false, "only alerts not resolved")
	return cmd
}

func (m *Main) newEventCommand(g *globals) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use: "event TYPE [DATA]", Short: "Post an event: start the tasks of the triggers it matches", Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var data map[string]any
			if len(args) > 1 {
				if err := json.Unmarshal([]byte(args[1]), &data); err != nil {
					return &usageError{fmt.Errorf("DATA must be a JSON object: %w", err)}
				}
			}
			started, err := g.client().PostEvent(cmd.Context(), args[0], data, id)
			if err != nil {
				return err
			}
			return printJSON(m.Stdout, started)
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "event id: posting the same id again starts nothing new")
	return cmd
}

func (m *Main) newSignalCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "signal TASK-ID NAME [DATA]", Short: "Send a signal to a task, e.g. an approval a wait step (or its flow) waits for", Args: rangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			var data map[string]any
			if len(args) > 2 {
				if err := json.Unmarshal([]byte(args[2]), &data); err != nil {
					return &usageError{fmt.Errorf("DATA must be a JSON object: %w", err)}
				}
			}
			sig, err := g.client().Signal(cmd.Context(), args[0], args[1], data)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(m.Stdout, sig)
			}
			fmt.Fprintf(m.Stdout, "sent %s to %s\n", sig.Name, sig.TaskID)
			return nil
		},
	}
}
