package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/flowfile"
	"github.com/loomhq/loom/internal/netguard"
	"github.com/loomhq/loom/runtime/dockerrt"
	"github.com/loomhq/loom/runtime/execrt"
	"github.com/loomhq/loom/runtime/httprt"
	"github.com/loomhq/loom/runtime/k8srt"
	"github.com/loomhq/loom/taskmaster"
)

// runtimeOptions are the flags of `loom server` and `loom worker` that say
// what submitted tasks may do on this machine: run commands (exec) and
// reach loopback, link-local and private addresses (http, notifiers).
type runtimeOptions struct {
	allowExec       bool
	execCommands    []string
	allowPrivateNet bool
	// allowDocker registers the docker type; allowDockerNet lets its
	// containers join a network, and dockerMounts are the host directories
	// they may mount.
	allowDocker, allowDockerNet bool
	dockerMounts                []string
	// allowKube registers the kubernetes type, whose Jobs go to
	// kubeNamespace (default: the kubeconfig's or the pod's namespace) or
	// one of kubeNamespaces, on the cluster of kubeconfig (default: the
	// one loom runs in). kube is its handler once connectKube has run.
	allowKube      bool
	kubeconfig     string
	kubeNamespace  string
	kubeNamespaces []string
	kube           *kubeRuntime

	// flowExec are the allow_exec patterns of the flow files loaded, and
	// flowExecFiles the names of the files that list any, for refusals.
	flowExec      []string
	flowExecFiles []string
}

// execFlag is the option that lets submitted tasks run any command.
const execFlag = "--allow-exec"

func (o *runtimeOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&o.allowExec, "allow-exec", false, "let submitted tasks of type exec run any command on this machine")
	f.StringArrayVar(&o.execCommands, "allow-exec-command", nil,
		`let submitted exec tasks run commands matching PATTERN: words with * and ?, a last word "..." for any further arguments (repeatable)`)
	f.BoolVar(&o.allowPrivateNet, "allow-private-net", false, "let http tasks, flow http steps and notifiers connect to loopback, link-local and private addresses")
	o.addDockerFlags(cmd, "let submitted tasks of type docker and flow files' docker steps run containers on the Docker daemon of DOCKER_HOST (default: the local socket)")
	f.BoolVar(&o.allowKube, "allow-kubernetes", false, "let submitted tasks of type kubernetes run as Jobs on a Kubernetes cluster (the one of --kubeconfig, default the one loom runs in)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file of the cluster kubernetes tasks run on (default: in-cluster config)")
	f.StringVar(&o.kubeNamespace, "kube-namespace", "", "namespace of kubernetes tasks' Jobs (default: the kubeconfig context's, the pod's, else default)")
	f.StringArrayVar(&o.kubeNamespaces, "kube-allow-namespace", nil, `another namespace a kubernetes task's input may name as "namespace" (repeatable)`)
}

// addDockerFlags adds the options of the docker runtime, which `loom run`
// shares with the server and worker.
func (o *runtimeOptions) addDockerFlags(cmd *cobra.Command, usage string) {
	f := cmd.Flags()
	f.BoolVar(&o.allowDocker, "allow-docker", false, usage)
	f.BoolVar(&o.allowDockerNet, "allow-docker-network", false, `let containers choose a network other than "none"`)
	f.StringArrayVar(&o.dockerMounts, "allow-docker-mount", nil, "let containers bind host paths under the directory PATH (repeatable; default: no host path)")
}

// kubeFlag is the option that lets submitted tasks run Kubernetes Jobs.
const kubeFlag = "--allow-kubernetes"

// kubeRuntime is the kubernetes type's handler and the client it uses.
type kubeRuntime struct {
	handler *k8srt.Handler
	client  k8srt.Client
}

// connectKube makes the kubernetes client and handler when the type is
// allowed. Nothing is sent to the cluster yet: a kubeconfig that cannot
// be read, or no in-cluster config, is a usage error at start.
func (o *runtimeOptions) connectKube() error {
	if !o.allowKube || o.kube != nil {
		return nil
	}
	cli, ns, err := k8srt.NewClient(o.kubeconfig)
	if err != nil {
		return &usageError{fmt.Errorf("%s: %w", kubeFlag, err)}
	}
	if o.kubeNamespace != "" {
		ns = o.kubeNamespace
	}
	o.kube = &kubeRuntime{client: cli, handler: k8srt.New(k8srt.Config{Client: cli, Namespace: ns, AllowNamespaces: o.kubeNamespaces})}
	return nil
}

// kubernetes is the kubernetes type's handler, or nil when Jobs are off.
func (o runtimeOptions) kubernetes() loom.Handler {
	if o.kube == nil {
		return nil
	}
	return o.kube.handler
}

// reapJobs deletes the unfinished Jobs of attempts that are no longer
// running, left by a server or worker killed mid-run. An API server that
// cannot be reached is logged, not fatal: kubernetes tasks will fail on
// their own.
func (o runtimeOptions) reapJobs(ctx context.Context, eng *engine.Engine, logger *slog.Logger) {
	if o.kube == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err := k8srt.Reap(ctx, o.kube.client, o.kube.handler.Namespaces(), attemptRunning(eng))
	if err != nil {
		logger.Warn("kubernetes: reaping orphaned jobs", "deleted", n, "err", err)
	} else if n > 0 {
		logger.Info("kubernetes: deleted jobs of attempts no longer running", "deleted", n)
	}
}

// attemptRunning reports whether attempt of task id is the one running
// now: the reapers keep its container or Job and remove the others.
func attemptRunning(eng *engine.Engine) func(ctx context.Context, id string, attempt int) (bool, error) {
	return func(ctx context.Context, id string, attempt int) (bool, error) {
		t, err := eng.Get(ctx, id)
		if errors.Is(err, loom.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return true, err
		}
		return t.Status == loom.StatusRunning && t.Attempt == attempt, nil
	}
}

// validate checks the flags before anything is opened.
func (o runtimeOptions) validate() error {
	if o.allowExec && len(o.execCommands) > 0 {
		return &usageError{fmt.Errorf("%s allows every command and %s restricts them: give one", execFlag, execrt.AllowFlag)}
	}
	if o.allowDockerNet && !o.allowDocker {
		return &usageError{fmt.Errorf("--allow-docker-network needs %s", dockerFlag)}
	}
	if len(o.dockerMounts) > 0 && !o.allowDocker {
		return &usageError{fmt.Errorf("--allow-docker-mount needs %s", dockerFlag)}
	}
	for _, m := range o.dockerMounts {
		if !filepath.IsAbs(m) || filepath.Clean(m) == "/" {
			return &usageError{fmt.Errorf("--allow-docker-mount %q: want an absolute directory other than /", m)}
		}
	}
	if !o.allowKube && (o.kubeconfig != "" || o.kubeNamespace != "" || len(o.kubeNamespaces) > 0) {
		return &usageError{fmt.Errorf("--kubeconfig, --kube-namespace and --kube-allow-namespace need %s", kubeFlag)}
	}
	_, err := o.allowlist()
	return err
}

// dockerFlag is the option that lets submitted tasks run containers.
const dockerFlag = "--allow-docker"

// docker is the docker type's handler, or nil when containers are off.
func (o runtimeOptions) docker() loom.Handler {
	if !o.allowDocker {
		return nil
	}
	return dockerrt.New(dockerrt.Config{AllowNetwork: o.allowDockerNet, AllowMounts: o.dockerMounts})
}

// reapContainers removes the containers of attempts that are no longer
// running, left by a server or worker killed mid-run: those whose process
// on this machine has ended and, on a server (eng set), those of other
// machines whose task eng knows and no longer runs in that attempt. A daemon that cannot be
// reached is logged, not fatal: docker tasks will fail on their own.
func (o runtimeOptions) reapContainers(ctx context.Context, eng *engine.Engine, logger *slog.Logger) {
	if !o.allowDocker {
		return
	}
	cli, err := dockerrt.NewClient()
	if err != nil {
		logger.Warn("docker: cannot reap orphaned containers", "err", err)
		return
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var running func(ctx context.Context, id string, attempt int) (bool, error)
	if eng != nil {
		running = func(ctx context.Context, id string, attempt int) (bool, error) {
			t, err := eng.Get(ctx, id)
			if errors.Is(err, loom.ErrNotFound) {
				// Another deployment sharing the daemon may run it.
				return true, nil
			}
			if err != nil {
				return true, err
			}
			return t.Status == loom.StatusRunning && t.Attempt == attempt, nil
		}
	}
	n, err := dockerrt.Reap(ctx, cli, running)
	if err != nil {
		logger.Warn("docker: reaping orphaned containers", "removed", n, "err", err)
	} else if n > 0 {
		logger.Info("docker: removed containers of attempts no longer running", "removed", n)
	}
}

// execAllowed reports whether submitted exec tasks may run at all.
func (o runtimeOptions) execAllowed() bool {
	return o.allowExec || len(o.execCommands) > 0 || len(o.flowExec) > 0
}

// allowlist is the --allow-exec-command patterns with those of the flow
// files, or nil when any command may run (--allow-exec) or none.
func (o runtimeOptions) allowlist() (*execrt.Allowlist, error) {
	if o.allowExec || len(o.execCommands) == 0 && len(o.flowExec) == 0 {
		return nil, nil
	}
	a, err := execrt.ParseAllowlist(slices.Concat(o.execCommands, o.flowExec))
	if err != nil {
		return nil, &usageError{err}
	}
	var from []string
	if len(o.execCommands) > 0 {
		from = append(from, execrt.AllowFlag)
	}
	if len(o.flowExecFiles) > 0 {
		from = append(from, "allow_exec in "+strings.Join(o.flowExecFiles, ", "))
	}
	a.Source = strings.Join(from, " or ")
	return a, nil
}

// addFlowAllowlist takes the allow_exec patterns of flow files. An
// operator wrote them, like the flags, so they admit exec tasks as
// --allow-exec-command does; --allow-exec, which admits every command,
// leaves them nothing to add, which is logged so that no one believes a
// file restricts it.
func (o *runtimeOptions) addFlowAllowlist(files []*flowfile.File, logger *slog.Logger) {
	for _, f := range files {
		if len(f.AllowExec) == 0 {
			continue
		}
		o.flowExec = append(o.flowExec, f.AllowExec...)
		o.flowExecFiles = append(o.flowExecFiles, filepath.Base(f.Filename))
	}
	switch {
	case len(o.flowExec) == 0:
	case o.allowExec:
		logger.Warn(execFlag+" lets exec tasks run any command: the allow_exec patterns of flow files restrict nothing", "files", o.flowExecFiles)
	default:
		logger.Info("flow files let submitted exec tasks run the commands their allow_exec patterns match", "files", o.flowExecFiles, "patterns", o.flowExec)
	}
}

// httpClient is the client of http tasks and notifiers: guarded unless
// --allow-private-net.
func (o runtimeOptions) httpClient() *http.Client { return netguard.Client(o.allowPrivateNet) }

// handlers are the built-in types an engine or worker registers: http on
// the guarded client, and exec only when allowed, restricted to the
// allowlist when there is one. A nil handler leaves the built-in out.
func (o runtimeOptions) handlers() (map[string]loom.Handler, error) {
	hs := map[string]loom.Handler{
		httprt.TypeName: httprt.New(httprt.Config{Client: o.httpClient()}),
		execrt.TypeName: nil,
	}
	if h := o.docker(); h != nil {
		hs[dockerrt.TypeName] = h
	}
	if h := o.kubernetes(); h != nil {
		hs[k8srt.TypeName] = h
	}
	if o.execAllowed() {
		a, err := o.allowlist()
		if err != nil {
			return nil, err
		}
		hs[execrt.TypeName] = execrt.New(execrt.Config{Allow: a})
	}
	return hs, nil
}

// flowTasks are the built-in types flow files' steps use. A flow file's
// exec steps are the operator's own commands, so they run whatever
// --allow-exec says; its http steps use the guarded client.
func (o runtimeOptions) flowTasks() flowfile.Tasks {
	ts := flowfile.Tasks{
		execrt.TypeName: loom.NewTask(execrt.TypeName, execrt.New(execrt.Config{})),
		httprt.TypeName: loom.NewTask(httprt.TypeName, httprt.New(httprt.Config{Client: o.httpClient()})),
	}
	if h := o.docker(); h != nil {
		ts[dockerrt.TypeName] = loom.NewTask(dockerrt.TypeName, h)
	}
	if h := o.kubernetes(); h != nil {
		ts[k8srt.TypeName] = loom.NewTask(k8srt.TypeName, h)
	}
	return ts
}

// notifierClient is the client alert notifiers post with.
func (o runtimeOptions) notifierClient() *http.Client {
	c := o.httpClient()
	c.Timeout = taskmaster.DefaultDeliveryTimeout
	return c
}

// admit is the server's engine.Config.Admit: an exec task needs
// --allow-exec, or a command --allow-exec-command or a flow file's
// allow_exec allows; the step types
// of flow files run only as steps of their flow, where the input a
// submitter gives fills the operator's templates and nothing else.
func (o runtimeOptions) admit(steps *stepSet) (func(*engine.SubmitParams) error, error) {
	a, err := o.allowlist()
	if err != nil {
		return nil, err
	}
	return func(p *engine.SubmitParams) error {
		if flow, ok := steps.flowOf(p.Type); ok {
			return fmt.Errorf("task type %q is a step of flow %q: submit the flow", p.Type, flow)
		}
		if p.Type == dockerrt.TypeName && !o.allowDocker {
			return fmt.Errorf("docker tasks are off on this server: start it with %s", dockerFlag)
		}
		if p.Type == k8srt.TypeName && !o.allowKube {
			return fmt.Errorf("kubernetes tasks are off on this server: start it with %s", kubeFlag)
		}
		if p.Type != execrt.TypeName {
			return nil
		}
		if !o.execAllowed() {
			return fmt.Errorf("exec tasks are off on this server: start it with %s (any command) or %s PATTERN, or list patterns under allow_exec in a flow file of --flows", execFlag, execrt.AllowFlag)
		}
		if a == nil {
			return nil
		}
		in, err := execrt.ParseInput(p.Input)
		if err != nil {
			return fmt.Errorf("exec: %w", err)
		}
		return a.Check(in)
	}, nil
}

// stepSet is the step types of the flows a server runs, set once they are
// built.
type stepSet struct {
	m atomic.Pointer[map[string]string]
}

func (s *stepSet) set(m map[string]string) { s.m.Store(&m) }

// flowOf returns the flow typ is a step of.
func (s *stepSet) flowOf(typ string) (string, bool) {
	m := s.m.Load()
	if m == nil {
		return "", false
	}
	flow, ok := (*m)[typ]
	return flow, ok
}

// stepTypes maps the type of every step of flows, through nested flows,
// to the flow it belongs to.
func stepTypes(flows []*loom.Task) map[string]string {
	out := map[string]string{}
	var walk func(t *loom.Task)
	walk = func(t *loom.Task) {
		f, ok := t.Handler.(*loom.Flow)
		if !ok {
			return
		}
		for _, info := range f.Steps() {
			out[f.Name()+"/"+info.Name] = f.Name()
			if s, ok := f.Step(info.Name); ok {
				walk(s.Task)
			}
		}
	}
	for _, t := range flows {
		walk(t)
	}
	return out
}
