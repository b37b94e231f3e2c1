package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
	"github.com/spf13/cobra"
)

func (m *Main) newTriggersCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "triggers",
		Short: "Start tasks on events, signed webhooks, or another task's end",
	}
	cmd.AddCommand(
		m.newTriggersAddCommand(g),
		&cobra.Command{
			Use: "list", Short: "List triggers", Args: exactArgs(0),
			RunE: func(cmd *cobra.Command, _ []string) error {
				trs, err := g.client().Triggers(cmd.Context())
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(m.Stdout, trs)
				}
				tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tKIND\tWHEN\tSTARTS\tSTATE")
				for _, tr := range trs {
					state := "active"
					if tr.Paused {
						state = "paused"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", tr.Name, tr.Kind, triggerWhen(&tr), tr.Task.Type, state)
				}
				return tw.Flush()
			},
		},
		&cobra.Command{
			Use: "delete NAME", Short: "Delete a trigger; the tasks it started stay", Args: exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := g.client().DeleteTrigger(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(m.Stdout, "deleted %s\n", args[0])
				return nil
			},
		},
	)
	return cmd
}

// triggerWhen says in a few words what fires a trigger.
func triggerWhen(tr *store.Trigger) string {
	var parts []string
	if tr.Kind == store.TriggerCompletion {
		result := "ends"
		if tr.OnResult != "" {
			result = "ends " + string(tr.OnResult)
		}
		parts = append(parts, tr.OnType+" "+result)
	}
	if tr.Filter != "" {
		parts = append(parts, oneLine(tr.Filter, 50))
	}
	if tr.Secret != "" {
		parts = append(parts, "webhook")
	}
	if len(parts) == 0 {
		return "every event"
	}
	return strings.Join(parts, "; ")
}

func (m *Main) newTriggersAddCommand(g *globals) *cobra.Command {
	var (
		tr       store.Trigger
		onResult string
		input    string
		mapping  []string
	)
	cmd := &cobra.Command{
		Use:   "add NAME --type TYPE",
		Short: "Add or replace a trigger: on events (the default), or with --on-type on another task's end",
		Example: `  loom triggers add big-orders --type ship --filter 'type == "order.created" && data.total > 100' --map order=data.id
  loom triggers add github --type build --secret s3cret      # POST /api/v1/hooks/github, signed
  loom triggers add report-after-etl --type report --on-type etl --on-result complete --map rows=data.output.rows`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tr.Task.Type == "" {
				return &usageError{fmt.Errorf("--type is required")}
			}
			in, err := parseInput(input)
			if err != nil {
				return err
			}
			tr.Name, tr.Task.Input = args[0], in
			tr.Kind = store.TriggerEvent
			if tr.OnType != "" {
				tr.Kind = store.TriggerCompletion
			} else if onResult != "" {
				return &usageError{fmt.Errorf("--on-result needs --on-type")}
			}
			tr.OnResult = loom.TaskResult(onResult)
			if tr.Mapping, err = parseMapping(mapping); err != nil {
				return err
			}
			out, err := g.client().PutTrigger(cmd.Context(), &tr)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(m.Stdout, out)
			}
			fmt.Fprintf(m.Stdout, "%s: %s trigger starting %s when %s\n", out.Name, out.Kind, out.Task.Type, triggerWhen(out))
			if out.Secret != "" {
				fmt.Fprintf(m.Stdout, "webhook: POST %s/api/v1/hooks/%s, signed with X-Hub-Signature-256\n", g.server, out.Name)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&tr.Task.Type, "type", "", "task type or flow the trigger starts (required)")
	f.StringVar(&input, "input", "", "the started task's input, a JSON object; --map adds to it")
	f.StringVar(&tr.Task.Queue, "queue", "", "queue of the started tasks (default the type's)")
	f.StringVar(&tr.Filter, "filter", "", `filter expression over the event, e.g. 'type == "order.created"' (default: every event)`)
	f.StringArrayVar(&mapping, "map", nil, "KEY=PATH: set input KEY from the event's PATH (e.g. data.output.n); repeatable")
	f.StringVar(&tr.OnType, "on-type", "", "make a completion trigger: start when a task of this type ends")
	f.StringVar(&onResult, "on-result", "", "with --on-type: only when it ends complete or error (default either)")
	f.StringVar(&tr.Secret, "secret", "", "accept signed webhooks at /api/v1/hooks/NAME, HMAC-SHA256 under this secret")
	return cmd
}

// parseMapping reads --map KEY=PATH flags.
func parseMapping(flags []string) (map[string]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(flags))
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" || v == "" {
			return nil, &usageError{fmt.Errorf("--map %q: want KEY=PATH, like order=data.id", f)}
		}
		if _, dup := out[k]; dup {
			return nil, &usageError{fmt.Errorf("--map: key %q given twice", k)}
		}
		out[k] = v
	}
	return out, nil
}
