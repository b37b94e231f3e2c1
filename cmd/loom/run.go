package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/spf13/cobra"
)

func (m *Main) newRunCommand() *cobra.Command {
	var (
		input   string
		verbose bool
		rt      runtimeOptions
	)
	cmd := &cobra.Command{
		Use:   "run FLOW.yaml [INPUT]",
		Short: "Run one flow file to completion in this process, without a server",
		Long: `Run the flow file FLOW.yaml once, durably, in this process: on a temporary
SQLite database with the same engine the server uses, printing each step's
progress as it happens. INPUT (or --input) is the flow's input, a JSON
object. The exit status is 0 only if the flow completed. Docker steps run
only with --allow-docker.`,
		Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := inputArg(args, input)
			if err != nil {
				return err
			}
			if err := rt.validate(); err != nil {
				return err
			}
			return m.runFlow(cmd.Context(), args[0], in, verbose, rt)
		},
	}
	cmd.Flags().StringVar(&input, "input", "", "the flow's input, a JSON object")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show the engine's logs")
	rt.addDockerFlags(cmd, "let the flow's docker steps run containers on the Docker daemon of DOCKER_HOST (default: the local socket)")
	return cmd
}

func (m *Main) runFlow(ctx context.Context, path string, in loom.Values, verbose bool, rt runtimeOptions) error {
	flow, err := loadFlowFile(path, rt.docker())
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "loom-run-")
	if err != nil {
		return fmt.Errorf("temporary database: %w", err)
	}
	m.onClose(func() error { return os.RemoveAll(dir) })
	st, err := openStore(ctx, filepath.Join(dir, "run.db"), "")
	if err != nil {
		return err
	}
	m.onClose(st.Close)
	logOut := io.Discard
	if verbose {
		logOut = m.Stderr
	}
	logger := slog.New(slog.NewTextHandler(logOut, nil))
	// Like a server or worker, a run removes what a killed process left.
	rt.reapContainers(ctx, nil, logger)
	eng, err := engine.New(engine.Config{
		Store:        st,
		Logger:       logger,
		Handlers:     builtinHandlers(),
		PollInterval: 100 * time.Millisecond,
	})
	if err != nil {
		return fmt.Errorf("start engine: %w", err)
	}
	m.onClose(eng.Close)
	if err := eng.Register(flow); err != nil {
		return fmt.Errorf("register flow %s: %w", flow.Name, err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(runCtx) }()
	defer func() { stop(); <-engDone }()

	task, _, err := eng.Submit(ctx, &engine.SubmitParams{Type: flow.Name, Input: in})
	if err != nil {
		return fmt.Errorf("submit %s: %w", flow.Name, err)
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		_, _ = eng.Wait(runCtx, task.ID)
	}()
	p := newProgress(m.Stdout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		// Read the state after learning the task ended, so the last
		// snapshot printed is the final one.
		done := false
		select {
		case <-ended:
			done = true
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("run %s: %w", flow.Name, ctx.Err())
		}
		if task, err = eng.Get(ctx, task.ID); err != nil {
			return err
		}
		steps, err := eng.Children(ctx, task.ID)
		if err != nil {
			return err
		}
		p.update(task, steps)
		if done || task.Status.Terminal() {
			break
		}
	}
	if task.Status == loom.StatusCompleted && len(task.Output) > 0 {
		fmt.Fprintf(m.Stdout, "output: %s\n", compactJSON(task.Output))
	}
	return outcome(task)
}
