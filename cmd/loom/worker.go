package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/metrics"
	"github.com/loomhq/loom/taskmaster"
	"github.com/spf13/cobra"
)

// workerOptions are the flags of `loom worker`.
type workerOptions struct {
	busDir      string
	queues      []string
	flows       string
	concurrency int
	id          string
	grace       time.Duration
	runtimes    runtimeOptions
	telemetry   telemetryOptions
}

func (m *Main) newWorkerCommand() *cobra.Command {
	var o workerOptions
	cmd := &cobra.Command{
		Use:   "worker --bus URL",
		Short: "Run tasks from a bus shared with a loom server, in another process",
		Long: `Run a worker outside the server: it takes ready tasks from the queues
of the task bus the server was started with (loom server --bus URL), runs
them, and sends their results back. It announces itself on the bus every
few seconds (id, host, queues, concurrency, tasks in flight, version): the
server lists it (loom workers, the Workers page) and learns from it that
its queues are served by workers, so they need no --external-queue. On a NATS or
Redis bus any number of workers, on any machines, may serve one queue; on
a file bus (a directory) one worker process serves a queue at a time. It
runs the built-in http type (exec too with --allow-exec, --allow-exec-command
or a flow file's allow_exec; docker with --allow-docker; kubernetes with
--allow-kubernetes) and, with --flows, the steps of the flow files
in DIR (wait steps stay on the server, which keeps their state).
SIGINT or SIGTERM drain the worker: it takes no more tasks, lets the
running ones finish within --grace, then stops those still running and
hands their tasks back to the bus, to run elsewhere at once.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return m.runWorker(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.busDir, "bus", "", busFlagHelp+" (required)")
	f.StringSliceVar(&o.queues, "queue", []string{loom.DefaultQueue}, "queue to take tasks from (repeatable)")
	f.StringVar(&o.flows, "flows", "", "directory of flow files whose steps this worker runs")
	f.IntVar(&o.concurrency, "concurrency", 0, "tasks run at once (default 4×CPUs)")
	f.StringVar(&o.id, "id", "", "the worker's name on the bus, unique among its workers (default host-pid)")
	f.DurationVar(&o.grace, "grace", 30*time.Second, "on SIGTERM, how long running tasks may finish before they are stopped and handed back")
	o.runtimes.addFlags(cmd)
	o.telemetry.addFlags(cmd)
	return cmd
}

func (m *Main) runWorker(ctx context.Context, o workerOptions) error {
	if o.busDir == "" {
		return &usageError{errors.New("--bus is required: the bus the server was started with")}
	}
	if o.concurrency < 0 {
		return &usageError{fmt.Errorf("--concurrency %d is negative", o.concurrency)}
	}
	if o.grace <= 0 {
		return &usageError{fmt.Errorf("--grace %s must be positive", o.grace)}
	}
	if o.id == "" {
		o.id = engine.DefaultWorkerID()
	}
	if err := bus.ValidateQueue(o.id); err != nil {
		return &usageError{fmt.Errorf("--id: %w", err)}
	}
	if err := o.runtimes.validate(); err != nil {
		return err
	}
	if err := o.runtimes.connectKube(); err != nil {
		return err
	}
	tel, err := o.telemetry.start(ctx, m, "loom-worker")
	if err != nil {
		return err
	}
	logger := tel.logger
	var tasks []*loom.Task
	if o.flows != "" {
		files, err := loadFlowDir(o.flows)
		if err != nil {
			return err
		}
		o.runtimes.addFlowAllowlist(files, logger)
		flows, _, err := buildFlows(files, o.runtimes.flowTasks(), serverOnlyWait())
		if err != nil {
			return err
		}
		tasks = stepTasks(flows)
	}
	spec, err := parseBus(o.busDir)
	if err != nil {
		return &usageError{fmt.Errorf("--bus: %w", err)}
	}
	b, err := openBus(ctx, spec)
	if err != nil {
		return fmt.Errorf("open bus %s: %w", spec, err)
	}
	m.onClose(b.Close)
	tel.metrics.KnowQueues(o.queues...)
	for _, t := range tasks {
		tel.metrics.KnowTypes(t.Name)
	}
	stopMetrics, err := o.telemetry.serveMetrics(ctx, tel)
	if err != nil {
		return err
	}
	defer func() { _ = stopMetrics() }()
	handlers, err := o.runtimes.handlers()
	if err != nil {
		return err
	}
	// A worker has no store to ask: it removes the containers whose
	// process on this machine has ended, such as its own previous life.
	o.runtimes.reapContainers(ctx, nil, logger)
	for name := range handlers {
		tel.metrics.KnowTypes(name)
	}
	w, err := engine.NewWorker(engine.WorkerConfig{
		Bus: metrics.InstrumentBus(b, tel.metrics), Queues: o.queues, Handlers: handlers, Tasks: tasks, Concurrency: o.concurrency, Logger: logger,
		ID: o.id, Version: currentVersion().Version, ShutdownTimeout: o.grace,
	})
	if err != nil {
		return &usageError{err}
	}
	logger.Info("loom worker started", "id", o.id, "bus", spec.String(), "queues", o.queues, "step_types", len(tasks), "grace", o.grace)
	if err := w.Run(ctx); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	logger.Info("loom worker stopped")
	return nil
}

// serverOnlyWait stands in for the wait type when a worker builds flow
// files: a wait step keeps its state in the server's store, so it never
// runs here.
func serverOnlyWait() *loom.Task {
	return loom.NewTask(taskmaster.WaitType, loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
		return nil, loom.Permanent(errors.New("wait steps run on the server, not on loom worker"))
	}))
}

// stepTasks returns the tasks a worker runs for flows: every step's task
// and compensation, through nested flows, each once. The flows themselves are advanced by
// the server.
func stepTasks(flows []*loom.Task) []*loom.Task {
	seen := map[string]bool{}
	var out []*loom.Task
	var walk func(t *loom.Task)
	walk = func(t *loom.Task) {
		f, ok := t.Handler.(*loom.Flow)
		if !ok {
			if !seen[t.Name] && t.Name != taskmaster.WaitType {
				seen[t.Name] = true
				out = append(out, t)
			}
			return
		}
		for _, info := range f.Steps() {
			if s, ok := f.Step(info.Name); ok {
				walk(s.Task)
				if s.Compensate != nil {
					walk(s.Compensate)
				}
			}
		}
	}
	for _, t := range flows {
		walk(t)
	}
	return out
}
