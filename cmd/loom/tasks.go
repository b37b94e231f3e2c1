package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/client"
	"github.com/loomhq/loom/store"
	"github.com/spf13/cobra"
)

func (m *Main) newTasksCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tasks",
		Short: "List, show, follow, cancel and retry tasks on the server",
	}
	cmd.AddCommand(
		m.newTasksListCommand(g),
		m.newTasksShowCommand(g),
		m.newTasksLogsCommand(g),
		m.newTasksCancelCommand(g),
		m.newTasksRetryCommand(g),
	)
	return cmd
}

func (m *Main) newTasksListCommand(g *globals) *cobra.Command {
	var (
		p      client.ListParams
		status []string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tasks, newest first",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, s := range status {
				for part := range strings.SplitSeq(s, ",") {
					if part = strings.TrimSpace(part); part != "" {
						p.Status = append(p.Status, loom.Status(part))
					}
				}
			}
			page, err := g.client().List(cmd.Context(), p)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(m.Stdout, page)
			}
			printTaskTable(m.Stdout, page.Tasks, false)
			if page.Next != "" {
				fmt.Fprintf(m.Stderr, "more: --cursor %s\n", page.Next)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&status, "status", nil, "only these statuses (repeat or comma-separate)")
	f.StringVar(&p.Type, "type", "", "only this task type")
	f.StringVar(&p.Queue, "queue", "", "only this queue")
	f.StringVar(&p.ParentID, "parent", "", "only the steps of this flow task")
	f.StringVar(&p.Text, "search", "", "only tasks whose id, type, info, msg or idempotency key contain this")
	f.IntVar(&p.Limit, "limit", 50, "page size, at most 1000")
	f.StringVar(&p.Cursor, "cursor", "", "continue from a previous page")
	return cmd
}

// printTaskTable writes tasks as aligned columns; asSteps names the step
// column for a flow's steps.
func printTaskTable(w io.Writer, tasks []*loom.TaskInfo, asSteps bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if asSteps {
		fmt.Fprintln(tw, "STEP\tID\tTYPE\tSTATUS\tATTEMPT\tENDED\tMSG")
	} else {
		fmt.Fprintln(tw, "ID\tTYPE\tQUEUE\tSTATUS\tATTEMPT\tCREATED\tMSG")
	}
	for _, t := range tasks {
		attempt := fmt.Sprintf("%d/%d", t.Attempt, t.MaxAttempts)
		if asSteps {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Step, t.ID, t.Type, t.Status, attempt, timeOrDash(t.Ended), oneLine(t.Msg, 60))
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Type, t.Queue, t.Status, attempt, t.Created.Local().Format(time.DateTime), oneLine(t.Msg, 60))
		}
	}
	_ = tw.Flush()
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

// oneLine shortens s to one line of at most n runes.
func oneLine(s string, n int) string {
	s, _, cut := strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	if cut {
		return s + " …"
	}
	return s
}

func (m *Main) newTasksShowCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a task, and a flow's steps",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := g.client()
			task, err := c.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			steps, err := c.Children(cmd.Context(), task.ID)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(m.Stdout, struct {
					*loom.TaskInfo
					Steps []*loom.TaskInfo `json:"steps,omitempty"`
				}{task, steps})
			}
			printTask(m.Stdout, task)
			if len(steps) > 0 {
				fmt.Fprintln(m.Stdout)
				printTaskTable(m.Stdout, steps, true)
			}
			return nil
		},
	}
}

// printTask writes a task's fields one a line, leaving out empty ones.
func printTask(w io.Writer, t *loom.TaskInfo) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("id", t.ID)
	row("type", t.Type)
	row("queue", t.Queue)
	row("status", string(t.Status))
	row("result", string(t.Result))
	row("msg", t.Msg)
	row("attempt", fmt.Sprintf("%d of %d", t.Attempt, t.MaxAttempts))
	if t.Progress != nil {
		row("progress", progressBar(t.Progress, 30)+"  (at "+t.Progress.UpdatedAt.Local().Format(time.RFC3339)+")")
	}
	if r := t.Retry; r != nil {
		row("retry", retryText(r))
	}
	row("priority", fmt.Sprint(t.Priority))
	row("parent", t.ParentID)
	row("step", t.Step)
	row("info", t.Info)
	row("idempotency key", t.IdempotencyKey)
	row("created", t.Created.Local().Format(time.RFC3339))
	row("run at", t.RunAt.Local().Format(time.RFC3339))
	if t.Started != nil {
		row("started", t.Started.Local().Format(time.RFC3339))
	}
	if t.Ended != nil {
		row("ended", t.Ended.Local().Format(time.RFC3339))
	}
	row("timeout", t.Timeout.Local().Format(time.RFC3339))
	row("worker", t.WorkerID)
	if len(t.Attributes) > 0 {
		row("attributes", compactJSON(t.Attributes))
	}
	if len(t.Input) > 0 {
		row("input", compactJSON(t.Input))
	}
	if len(t.Output) > 0 {
		row("output", compactJSON(t.Output))
	}
	_ = tw.Flush()
}

func (m *Main) newTasksLogsCommand(g *globals) *cobra.Command {
	var (
		p      client.LogsParams
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print a task's captured output",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return m.printLogs(cmd.Context(), g.client(), args[0], p, follow, g.json)
		},
	}
	cmd.Flags().IntVar(&p.Attempt, "attempt", 0, "only this attempt (default: every attempt)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output until the task ends")
	return cmd
}

// printLogs prints a task's log; following, it polls for more until the
// task has ended and its last output is printed. A fan-out step has no
// output of its own: its items' logs are printed one after another, each
// under a header naming the item.
func (m *Main) printLogs(ctx context.Context, c *client.Client, id string, p client.LogsParams, follow, asJSON bool) error {
	task, err := c.Get(ctx, id)
	if err != nil {
		return err
	}
	lp := newLogPrinter(m.Stdout)
	if !fanOutStep(task) {
		return m.printTaskLogs(ctx, c, lp, task, p, follow, asJSON)
	}
	if follow {
		return fmt.Errorf("%s is a fan-out step: follow one of its items (loom tasks list --parent %s lists them)", id, id)
	}
	items, err := c.Children(ctx, id)
	if err != nil {
		return err
	}
	slices.SortStableFunc(items, func(a, b *loom.TaskInfo) int { return cmp.Compare(itemNumber(a.Step), itemNumber(b.Step)) })
	for _, it := range items {
		if !asJSON {
			lp.header(fmt.Sprintf("══ item %s (%s) ══", it.Step, it.Status))
		}
		if err := m.printTaskLogs(ctx, c, lp, it, p, false, asJSON); err != nil {
			return err
		}
	}
	if lp.midLine {
		fmt.Fprintln(m.Stdout)
	}
	return nil
}

// fanOutStep reports whether t is a fan-out step of a flow, whose items
// are its children (its type is the flow's, the step's and "[]").
func fanOutStep(t *loom.TaskInfo) bool { return t.ParentID != "" && strings.HasSuffix(t.Type, "[]") }

// itemNumber is k of a fan-out item's step name, step[k]; -1 if none.
func itemNumber(step string) int {
	i := strings.LastIndexByte(step, '[')
	if i < 0 || !strings.HasSuffix(step, "]") {
		return -1
	}
	k, err := strconv.Atoi(step[i+1 : len(step)-1])
	if err != nil {
		return -1
	}
	return k
}

// printTaskLogs prints the log of one task, whose state was just read.
func (m *Main) printTaskLogs(ctx context.Context, c *client.Client, lp *logPrinter, task *loom.TaskInfo, p client.LogsParams, follow, asJSON bool) error {
	// Attempts are told apart by a header line before each one's output
	// when the task has had more than one; a lone first attempt prints as
	// it was written.
	id := task.ID
	several := task.Attempt > 1
	attempt := 0
	for {
		// Whether the task had ended is read before its log, so that the
		// last chunks written before it ended are in the read that follows.
		ended := true
		if follow {
			task, err := c.Get(ctx, id)
			if err != nil {
				return err
			}
			ended = task.Status.Terminal()
		}
		chunks, err := c.Logs(ctx, id, p)
		if err != nil {
			return err
		}
		for _, ch := range chunks {
			if asJSON {
				if err := printJSON(m.Stdout, ch); err != nil {
					return err
				}
			} else {
				if ch.Attempt != attempt && p.Attempt == 0 && (several || ch.Attempt > 1) {
					lp.header(fmt.Sprintf("── attempt %d ──", ch.Attempt))
				}
				attempt = ch.Attempt
				lp.write(ch.Stream, ch.Data)
			}
			p.After = max(p.After, ch.Seq)
		}
		if ended {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil // interrupted following: not a failure
		case <-time.After(pollInterval):
		}
	}
}

// logPrinter prints log chunks so that stderr and loom's own notes stand
// out from stdout: each of their lines has a prefix ("stderr| ",
// "loom| "), so that they stay marked in a pipe or a file and for readers
// who do not see colour, and on a terminal they are coloured too. Stdout
// prints as it was written.
type logPrinter struct {
	w        io.Writer
	terminal bool
	// midLine is true when the last output did not end its line;
	// stream is the stream that wrote it.
	midLine bool
	stream  string
}

func newLogPrinter(w io.Writer) *logPrinter {
	return &logPrinter{w: w, terminal: isTerminal(w)}
}

// Log line marks: a prefix on every line, an ANSI colour on a terminal.
var (
	logPrefix = map[string]string{loom.LogStderr: "stderr| ", loom.LogSystem: "loom| "}
	logColour = map[string]string{loom.LogStderr: "\x1b[31m", loom.LogSystem: "\x1b[2m"}
)

// header prints a line of its own, ending an unfinished line first.
func (lp *logPrinter) header(line string) {
	if lp.midLine {
		fmt.Fprintln(lp.w)
	}
	fmt.Fprintln(lp.w, line)
	lp.midLine = false
}

// write prints data of stream.
func (lp *logPrinter) write(stream, data string) {
	if data == "" {
		return
	}
	stream = store.LogStream(stream)
	// Output of another stream starts on a line of its own.
	if lp.midLine && stream != lp.stream && (stream != loom.LogStdout || lp.stream != loom.LogStdout) {
		fmt.Fprintln(lp.w)
		lp.midLine = false
	}
	lp.stream = stream
	if stream == loom.LogStdout {
		fmt.Fprint(lp.w, data)
		lp.midLine = !strings.HasSuffix(data, "\n")
		return
	}
	var b strings.Builder
	for line := range strings.SplitAfterSeq(data, "\n") {
		if line == "" {
			continue
		}
		if !lp.midLine {
			b.WriteString(logPrefix[stream])
		}
		text, nl := strings.CutSuffix(line, "\n")
		if lp.terminal {
			text = logColour[stream] + text + "\x1b[0m"
		}
		b.WriteString(text)
		if nl {
			b.WriteByte('\n')
		}
		lp.midLine = !nl
	}
	fmt.Fprint(lp.w, b.String())
}

func (m *Main) newTasksCancelCommand(g *globals) *cobra.Command {
	var (
		reason string
		bf     bulkFlags
	)
	cmd := &cobra.Command{
		Use:   "cancel [ID]",
		Short: "Cancel a task that has not ended (a flow: its unfinished steps too), or every task a filter matches",
		Long: `Cancel one task by its id, or, without an id, every top-level task that the
filter flags match (pending ones unless --status says pending,running), at
most --limit of them; --dry-run counts them first.`,
		Args: rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				req, err := bf.request(cmd)
				if err != nil {
					return err
				}
				req.Reason = reason
				res, err := g.client().BulkCancel(cmd.Context(), req)
				return m.printBulk(res, err, "cancel", "cancelled", req.DryRun, g.json)
			}
			if bf.set(cmd) {
				return &usageError{fmt.Errorf("give a task id or filter flags, not both")}
			}
			task, err := g.client().Cancel(cmd.Context(), args[0], reason)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(m.Stdout, task)
			}
			fmt.Fprintf(m.Stdout, "%s %s\n", task.ID, task.Status)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded as the task's message")
	bf.add(cmd, "pending")
	return cmd
}

func (m *Main) newTasksRetryCommand(g *globals) *cobra.Command {
	var (
		input string
		bf    bulkFlags
	)
	cmd := &cobra.Command{
		Use:   "retry [ID]",
		Short: "Run a failed or cancelled task again (a flow: its failed steps and what follows them), or every task a filter matches",
		Long: `Retry one task by its id, or, without an id, every top-level task that the
filter flags match (failed ones unless --status says failed,cancelled), at
most --limit of them; --dry-run counts them first. Running it again acts
only on tasks that have failed since.`,
		Args: rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				if input != "" {
					return &usageError{fmt.Errorf("--input replaces one task's input: give the task's id")}
				}
				req, err := bf.request(cmd)
				if err != nil {
					return err
				}
				res, err := g.client().BulkRetry(cmd.Context(), req)
				return m.printBulk(res, err, "retry", "retried", req.DryRun, g.json)
			}
			if bf.set(cmd) {
				return &usageError{fmt.Errorf("give a task id or filter flags, not both")}
			}
			in, err := parseInput(input)
			if err != nil {
				return err
			}
			task, err := g.client().Retry(cmd.Context(), args[0], in)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(m.Stdout, task)
			}
			fmt.Fprintf(m.Stdout, "%s %s\n", task.ID, task.Status)
			return nil
		},
	}
	cmd.Flags().StringVar(&input, "input", "", "replace the task's input with this JSON object")
	bf.add(cmd, "failed")
	return cmd
}

// retryText is a task's own retry policy in words, as submit's flags
// spell it.
func retryText(r *loom.TaskRetry) string {
	s := "backoff " + r.InitialDelay.String()
	if r.BackoffFactor > 1 {
		s += fmt.Sprintf(", factor %g", r.BackoffFactor)
	}
	if r.MaxDelay > 0 {
		s += ", max " + r.MaxDelay.String()
	}
	if r.Jitter > 0 {
		s += fmt.Sprintf(", jitter %g", r.Jitter)
	}
	return s
}
