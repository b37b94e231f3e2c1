package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/loomhq/loom/store"
	"github.com/spf13/cobra"
)

func (m *Main) newNotifiersCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notifiers",
		Short: "Webhooks that receive alerts (failed tasks and flows, late schedules and checks, backlogs, open breakers)",
	}
	var n store.Notifier
	add := &cobra.Command{
		Use:   "add NAME URL",
		Short: "Add or replace a notifier: POST each alert opened and resolved to URL",
		Example: `  loom notifiers add ops https://hooks.example.com/loom --kinds task_failed,flow_failed
  loom notifiers add chat https://hooks.slack.com/services/... --format slack`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n.Name, n.URL = args[0], args[1]
			out, err := g.client().PutNotifier(cmd.Context(), &n)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(m.Stdout, out)
			}
			fmt.Fprintf(m.Stdout, "%s: %s alerts to %s\n", out.Name, notifierKinds(out), out.URL)
			return nil
		},
	}
	f := add.Flags()
	f.StringSliceVar(&n.Kinds, "kinds", nil, "alert kinds wanted: "+strings.Join(alertKinds, ", ")+" (default all)")
	f.StringSliceVar(&n.Types, "types", nil, "only failures of these task types (default all)")
	f.StringVar(&n.Format, "format", "", "body format: json (default) or slack")
	f.StringVar(&n.Secret, "secret", "", "sign each body with HMAC-SHA256 under this secret (X-Hub-Signature-256)")
	f.IntVar(&n.BacklogThreshold, "backlog-threshold", 0, "pending tasks in a queue that raise queue_backlog (default the server's)")
	f.IntVar(&n.MaxAttempts, "max-attempts", 0, "delivery attempts before giving up (default 5)")
	cmd.AddCommand(add,
		&cobra.Command{
			Use: "list", Short: "List notifiers", Args: exactArgs(0),
			RunE: func(cmd *cobra.Command, _ []string) error {
				ns, err := g.client().Notifiers(cmd.Context())
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(m.Stdout, ns)
				}
				tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tURL\tFORMAT\tKINDS")
				for _, n := range ns {
					format := n.Format
					if format == "" {
						format = store.FormatJSON
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, n.URL, format, notifierKinds(&n))
				}
				return tw.Flush()
			},
		},
		&cobra.Command{
			Use: "delete NAME", Short: "Delete a notifier", Args: exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := g.client().DeleteNotifier(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(m.Stdout, "deleted %s\n", args[0])
				return nil
			},
		},
	)
	return cmd
}

// alertKinds are the kinds a notifier may ask for, for help texts.
var alertKinds = []string{store.AlertTaskFailed, store.AlertFlowFailed, store.AlertBreakerOpen, store.AlertScheduleLate,
	store.AlertCheckLate, store.AlertQueueBacklog, store.AlertTriggerFailed}

// notifierKinds says which alerts a notifier gets.
func notifierKinds(n *store.Notifier) string {
	if len(n.Kinds) == 0 {
		return "all"
	}
	return strings.Join(n.Kinds, ",")
}
