package main

import (
	"context"
	"fmt"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/client"
	"github.com/spf13/cobra"
)

// pollInterval is how often a waiting client asks the server about a task:
// often enough to show progress, rarely enough not to load the server.
const pollInterval = 500 * time.Millisecond

func (m *Main) newSubmitCommand(g *globals) *cobra.Command {
	var (
		req   client.SubmitRequest
		input string
		wait  bool
		retry retryFlags
	)
	cmd := &cobra.Command{
		Use:   "submit TYPE [INPUT]",
		Short: "Submit a task to the server and print its id",
		Long: `Submit a task of TYPE to the server and print its id. With --wait, follow
the task (and a flow's steps) until it ends, and exit non-zero unless it
completed. INPUT (or --input) is the task's input, a JSON object.`,
		Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := inputArg(args, input)
			if err != nil {
				return err
			}
			req.Type, req.Input = args[0], in
			if req.Retry, err = retry.policy(cmd); err != nil {
				return err
			}
			c := g.client()
			task, created, err := c.Submit(cmd.Context(), &req)
			if err != nil {
				return err
			}
			if !created {
				fmt.Fprintf(m.Stderr, "a task with idempotency key %q exists; nothing was created\n", req.IdempotencyKey)
			}
			if !wait {
				if g.json {
					return printJSON(m.Stdout, task)
				}
				fmt.Fprintln(m.Stdout, task.ID)
				return nil
			}
			if !g.json {
				fmt.Fprintln(m.Stdout, task.ID)
			}
			return m.follow(cmd.Context(), c, task, g.json)
		},
	}
	f := cmd.Flags()
	f.StringVar(&input, "input", "", "the task's input, a JSON object")
	f.StringVar(&req.Queue, "queue", "", "queue to submit to (default: the type's)")
	f.IntVar(&req.Priority, "priority", 0, "higher runs first within the queue")
	f.StringVar(&req.IdempotencyKey, "idempotency-key", "", "a key that makes a second submit return the first task")
	f.IntVar(&req.MaxAttempts, "max-attempts", 0, "attempt budget (default: the type's retry policy)")
	f.StringVar(&req.Timeout, "timeout", "", `expiry: a duration like "30m" or an RFC 3339 time (default 6h)`)
	f.BoolVar(&wait, "wait", false, "follow the task until it ends; exit non-zero unless it completed")
	retry.register(cmd)
	return cmd
}

// retryFlags are submit's flags for the task's own retry policy.
type retryFlags struct {
	backoff, maxBackoff time.Duration
	factor, jitter      float64
}

func (r *retryFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.DurationVar(&r.backoff, "backoff", 0, "the task's own retry policy: wait this long before the first retry, e.g. 2s (needs --max-attempts 2 or more, or the type's)")
	f.Float64Var(&r.factor, "backoff-factor", 0, "with --backoff: multiply the wait by this after each retry, e.g. 2 (default: fixed waits)")
	f.DurationVar(&r.maxBackoff, "max-backoff", 0, "with --backoff: the longest any one wait may be, e.g. 5m")
	f.Float64Var(&r.jitter, "jitter", 0, "with --backoff: spread each wait by up to this fraction, both ways (0.2: ±20%)")
}

// policy returns the retry policy the flags ask for, nil for none, or a
// usage error; the server checks the values.
func (r *retryFlags) policy(cmd *cobra.Command) (*loom.TaskRetry, error) {
	if !cmd.Flags().Changed("backoff") {
		for _, name := range []string{"backoff-factor", "max-backoff", "jitter"} {
			if cmd.Flags().Changed(name) {
				return nil, &usageError{fmt.Errorf("--%s needs --backoff, the wait before the first retry", name)}
			}
		}
		return nil, nil
	}
	return &loom.TaskRetry{InitialDelay: loom.Duration(r.backoff), BackoffFactor: r.factor,
		MaxDelay: loom.Duration(r.maxBackoff), Jitter: r.jitter}, nil
}

// follow polls a task until it ends, printing its progress, and returns
// its outcome.
func (m *Main) follow(ctx context.Context, c *client.Client, task *loom.TaskInfo, asJSON bool) error {
	p := newProgress(m.Stdout)
	var steps []*loom.TaskInfo
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		var err error
		if steps, err = c.Children(ctx, task.ID); err != nil {
			return err
		}
		if !asJSON {
			p.update(task, steps)
		}
		if task.Status.Terminal() {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for task %s: %w", task.ID, ctx.Err())
		case <-tick.C:
		}
		if task, err = c.Get(ctx, task.ID); err != nil {
			return err
		}
	}
	if asJSON {
		if err := printJSON(m.Stdout, task); err != nil {
			return err
		}
	} else if task.Status == loom.StatusCompleted && len(task.Output) > 0 {
		fmt.Fprintf(m.Stdout, "output: %s\n", compactJSON(task.Output))
	}
	return outcome(task)
}
