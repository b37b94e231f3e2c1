package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/loomhq/loom/client"
	"github.com/spf13/cobra"
)

func (m *Main) newWorkersCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "workers",
		Short: "List the workers the server saw in the last day",
		Long: `List the workers the server saw in the last day, most recently seen
first: loom worker processes on the bus (they announce themselves), HTTP
workers, and the servers themselves. A worker is alive while its last
heartbeat is at most one lease old; one that stopped cleanly is not listed.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ws, err := g.client().Workers(cmd.Context())
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(m.Stdout, ws)
			}
			if len(ws) == 0 {
				fmt.Fprintln(m.Stderr, "no workers seen in the last day; start one with: loom worker --bus URL --queue NAME")
				return nil
			}
			printWorkerTable(m.Stdout, ws, time.Now())
			return nil
		},
	}
}

// printWorkerTable prints one line a worker.
func printWorkerTable(w io.Writer, ws []client.Worker, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tHOST\tQUEUES\tCONCURRENCY\tIN FLIGHT\tLAST SEEN\tALIVE\tVERSION")
	for _, wk := range ws {
		conc := "-"
		if wk.Concurrency > 0 {
			conc = strconv.Itoa(wk.Concurrency)
		}
		inFlight := max(wk.InFlight, len(wk.Running))
		version := wk.Version
		if version == "" {
			version = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s ago\t%t\t%s\n", wk.ID, wk.Hostname, strings.Join(wk.Queues, ","), conc,
			inFlight, now.Sub(wk.LastHeartbeat).Round(time.Second), wk.Alive, version)
	}
	_ = tw.Flush()
}
