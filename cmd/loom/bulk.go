package main

import (
	"fmt"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/client"
	"github.com/spf13/cobra"
)

// bulkFlags are the filter flags of `tasks retry` and `tasks cancel`
// without an id.
type bulkFlags struct {
	status []string
	typ    string
	queue  string
	since  string
	limit  int
	dryRun bool
	all    bool
}

// filterFlags are the flags that choose tasks; one of them (or --all) must
// be given, so that a bare `loom tasks cancel` is not a mistake that
// cancels everything.
var filterFlags = []string{"status", "type", "queue", "since", "all"}

func (b *bulkFlags) add(cmd *cobra.Command, defaultStatus string) {
	f := cmd.Flags()
	f.StringSliceVar(&b.status, "status", nil, "without an id: only these statuses (default "+defaultStatus+")")
	f.StringVar(&b.typ, "type", "", "without an id: only this task type")
	f.StringVar(&b.queue, "queue", "", "without an id: only this queue")
	f.StringVar(&b.since, "since", "", `without an id: only tasks created since then, a duration ago ("2h") or an RFC 3339 time`)
	f.IntVar(&b.limit, "limit", 0, "without an id: act on at most this many tasks, newest first (default 1000, at most 10000)")
	f.BoolVar(&b.dryRun, "dry-run", false, "without an id: count the matching tasks, act on none")
	f.BoolVar(&b.all, "all", false, "without an id and other filters: every task of the default status")
}

// set reports whether any bulk flag was given.
func (b *bulkFlags) set(cmd *cobra.Command) bool {
	for _, name := range append(filterFlags, "limit", "dry-run") {
		if cmd.Flags().Changed(name) {
			return true
		}
	}
	return false
}

// request is the API request the flags describe.
func (b *bulkFlags) request(cmd *cobra.Command) (*client.BulkRequest, error) {
	chosen := false
	for _, name := range filterFlags {
		chosen = chosen || cmd.Flags().Changed(name)
	}
	if !chosen {
		return nil, &usageError{fmt.Errorf("give a task id, or filter flags (--status, --type, --queue, --since) or --all to act on many")}
	}
	req := &client.BulkRequest{Type: b.typ, Queue: b.queue, Limit: b.limit, DryRun: b.dryRun}
	for _, s := range b.status {
		req.Status = append(req.Status, loom.Status(s))
	}
	if b.since != "" {
		t, err := sinceTime(b.since, time.Now())
		if err != nil {
			return nil, &usageError{err}
		}
		req.CreatedAfter = &t
	}
	return req, nil
}

// sinceTime reads --since: a duration before now, or a time.
func sinceTime(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf(`--since %q: want a duration like "2h" or an RFC 3339 time`, s)
}

// printBulk reports a bulk action.
func (m *Main) printBulk(res *client.BulkResult, err error, verb, done string, dry, asJSON bool) error {
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(m.Stdout, res)
	}
	if res.Matched == 0 {
		fmt.Fprintf(m.Stdout, "no task matches; nothing to %s\n", verb)
		return nil
	}
	if dry {
		fmt.Fprintf(m.Stdout, "would %s %d task%s", verb, res.Matched, plural(res.Matched))
	} else {
		fmt.Fprintf(m.Stdout, "%s %d task%s", done, res.Acted, plural(res.Acted))
		if res.Skipped > 0 {
			fmt.Fprintf(m.Stdout, "; %d had changed state and were left alone", res.Skipped)
		}
	}
	if res.More {
		fmt.Fprint(m.Stdout, "; more match: run it again, or raise --limit")
	}
	fmt.Fprintln(m.Stdout)
	return nil
}

// plural is "s" unless n is 1.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
