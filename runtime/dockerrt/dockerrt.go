// Package dockerrt is the docker runtime: the task type "docker", which runs
// a task as a container on a Docker Engine (the daemon DOCKER_HOST names, or
// the local socket). Its input names the image and how to run it:
//
//	{"image": "alpine:3", "command": ["sh", "-c", "..."], "env": {"K": "V"},
//	 "workdir": "/work", "user": "1000", "cpus": 0.5, "memory": "256m",
//	 "network": "none", "pull": "never", "timeout": 30}
//
// The container is created with the labels LabelTask (the task id) and
// LabelAttempt, started, and its stdout and stderr are streamed as they come
// into the attempt's log, each on its own stream (loom.LogStream). Exit
// code 0 completes the task with the output {"exit_code": 0, "stdout":
// "..."}, stdout cut to its last Config.MaxOutput bytes; any other code fails the attempt with an
// *ExitError carrying the last lines of stderr. A cancelled task or a passed
// timeout stops the container (SIGTERM, then SIGKILL after
// Config.KillGrace). The container is removed in every case.
//
// Safe defaults: the container has no network unless the input asks for one
// and Config.AllowNetwork permits it; no host path is ever mounted; and an
// image is never pulled unless the input's "pull" is "missing" or "always".
// Reap removes the containers of tasks that are no longer running, left
// behind by a worker that was killed mid-run.
package dockerrt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-units"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/runtime/internal/strict"
)

// TypeName is the task type this runtime is registered under (by a loom
// server or worker only with --allow-docker).
const TypeName = "docker"

// Labels set on every container the runtime creates, so that Reap can find
// the containers of tasks that are gone.
const (
	// LabelTask holds the id of the task (the attempt's RunID).
	LabelTask = "loom.task"
	// LabelAttempt holds the attempt number, from 1.
	LabelAttempt = "loom.attempt"
)

// Pull policies of the input's "pull".
const (
	// PullNever runs only an image already on the daemon: the default, so
	// that a task cannot make the daemon fetch arbitrary images.
	PullNever = "never"
	// PullMissing pulls the image when the daemon does not have it.
	PullMissing = "missing"
	// PullAlways pulls the image before every run.
	PullAlways = "always"
)

// Defaults for Config's zero values.
const (
	// DefaultMaxOutput is how much of a container's stdout its output keeps.
	DefaultMaxOutput = 64 << 10
	// DefaultKillGrace is how long a stopped container has to exit after
	// SIGTERM before it is killed.
	DefaultKillGrace = 5 * time.Second
	// stderrLines is how many trailing lines of stderr an ExitError holds.
	stderrLines = 10
)

// ErrNetworkNotAllowed is wrapped by the error of a task whose input asks
// for a network the handler's Config does not allow.
var ErrNetworkNotAllowed = errors.New("network not allowed")

// Config configures a Handler. Zero values mean the defaults stated on each
// field.
type Config struct {
	// Client talks to the Docker Engine. Default: one configured from the
	// environment (DOCKER_HOST, DOCKER_API_VERSION, DOCKER_CERT_PATH,
	// DOCKER_TLS_VERIFY), negotiating the API version with the daemon.
	Client *client.Client
	// AllowNetwork lets a task's input choose a network other than "none"
	// ("bridge", "host" or a named network). Default: every container runs
	// without a network.
	AllowNetwork bool
	// MaxOutput is how many trailing bytes of stdout are returned as the
	// "stdout" output. Default DefaultMaxOutput (64 KiB).
	MaxOutput int
	// KillGrace is how long a cancelled or timed-out container may take to
	// exit after SIGTERM before it gets SIGKILL. Default DefaultKillGrace.
	KillGrace time.Duration
}

// NewClient returns a Docker Engine client configured from the environment
// (DOCKER_HOST and friends) that negotiates the API version with the daemon,
// so an older daemon such as Debian's docker.io works.
func NewClient() (*client.Client, error) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return c, nil
}

// Handler runs the container its input names; see the package
// documentation. It is safe for concurrent use.
type Handler struct {
	cfg Config
}

var _ loom.Handler = (*Handler)(nil)

// New returns a Handler configured by cfg. Without cfg.Client, each task
// makes its client from the environment and closes it when it ends, so
// that registering the type costs nothing on a machine that never runs a
// container and no connection outlives a task.
func New(cfg Config) *Handler {
	if cfg.MaxOutput <= 0 {
		cfg.MaxOutput = DefaultMaxOutput
	}
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = DefaultKillGrace
	}
	return &Handler{cfg: cfg}
}

// Input is the input of a docker task.
type Input struct {
	// Image is the image to run. Required.
	Image string `json:"image"`
	// Command replaces the image's command when set (no shell: wrap it in
	// ["sh", "-c", "..."] for one).
	Command []string `json:"command,omitempty"`
	// Env holds variables set in the container on top of the image's.
	Env map[string]string `json:"env,omitempty"`
	// Workdir is the working directory in the container. Default: the
	// image's.
	Workdir string `json:"workdir,omitempty"`
	// CPUs bounds the CPU the container may use, in CPUs (0.5 is half of
	// one). Zero: no bound.
	CPUs float64 `json:"cpus,omitempty"`
	// Memory bounds the container's memory, as bytes or with a unit
	// ("256m", "1g"). Empty: no bound.
	Memory string `json:"memory,omitempty"`
	// Network is the network mode: "none" (the default) or, when the
	// handler allows networks, "bridge", "host" or a network's name.
	Network string `json:"network,omitempty"`
	// User runs the command as this user ("1000", "1000:1000", "nobody").
	// Default: the image's.
	User string `json:"user,omitempty"`
	// Pull is the pull policy: PullNever (the default), PullMissing or
	// PullAlways.
	Pull string `json:"pull,omitempty"`
	// Timeout bounds the run, in seconds; zero means no bound beyond the
	// task's own timeout.
	Timeout float64 `json:"timeout,omitempty"`
}

// ParseInput decodes and checks a docker task's input. Unknown keys (such
// as "mounts", which this runtime does not offer) and wrong types are
// errors.
func ParseInput(v loom.Values) (Input, error) {
	var in Input
	if err := strict.Decode(v, &in); err != nil {
		return Input{}, err
	}
	return in, in.validate()
}

func (in Input) validate() error {
	if strings.TrimSpace(in.Image) == "" {
		return errors.New(`input "image": required`)
	}
	for k := range in.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf(`input "env": invalid variable name %q`, k)
		}
	}
	if in.CPUs < 0 || math.IsNaN(in.CPUs) || in.CPUs > 1e6 {
		return fmt.Errorf(`input "cpus": %v is not a number of CPUs >= 0`, in.CPUs)
	}
	if _, err := in.memory(); err != nil {
		return err
	}
	switch in.Pull {
	case "", PullNever, PullMissing, PullAlways:
	default:
		return fmt.Errorf(`input "pull": %q is not one of %q, %q, %q`, in.Pull, PullNever, PullMissing, PullAlways)
	}
	if in.Timeout < 0 || math.IsNaN(in.Timeout) || in.Timeout > math.MaxInt64/float64(time.Second) {
		return fmt.Errorf(`input "timeout": %v is not a number of seconds >= 0`, in.Timeout)
	}
	return nil
}

func (in Input) memory() (int64, error) {
	if in.Memory == "" {
		return 0, nil
	}
	n, err := units.RAMInBytes(in.Memory)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf(`input "memory": %q is not a size such as "256m"`, in.Memory)
	}
	return n, nil
}

func (in Input) network() string {
	if in.Network == "" {
		return "none"
	}
	return in.Network
}

// ExitError is the error of a container that exited with a non-zero code.
// It is not permanent: a retry policy retries it like any other failure.
type ExitError struct {
	// Code is the container's exit code.
	Code int
	// Stderr is the last lines of the container's stderr.
	Stderr string
}

// Error names the code and, when there is any, the tail of stderr.
func (e *ExitError) Error() string {
	if e.Stderr == "" {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return fmt.Sprintf("exit status %d: stderr: %s", e.Code, e.Stderr)
}

// Handle runs the container described by v and waits for it.
func (h *Handler) Handle(ctx context.Context, v loom.Values) (loom.Values, error) {
	in, err := ParseInput(v)
	if err != nil {
		return nil, loom.Permanent(fmt.Errorf("docker: %w", err))
	}
	if in.network() != "none" && !h.cfg.AllowNetwork {
		return nil, loom.Permanent(fmt.Errorf("docker: network %q: %w (containers run without one here)", in.Network, ErrNetworkNotAllowed))
	}
	cli := h.cfg.Client
	if cli == nil {
		if cli, err = NewClient(); err != nil {
			return nil, err
		}
		defer cli.Close()
	}
	runCtx := ctx
	if in.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, time.Duration(in.Timeout*float64(time.Second)))
		defer cancel()
	}
	if err := h.pull(runCtx, cli, in); err != nil {
		return nil, fmt.Errorf("docker %s: %w", in.Image, err)
	}
	id, err := h.create(runCtx, cli, in)
	if err != nil {
		return nil, fmt.Errorf("docker %s: %w", in.Image, err)
	}
	defer h.remove(cli, id)
	code, stderr, stdout, err := h.run(runCtx, cli, id, loom.LogStream(ctx, loom.LogStdout), loom.LogStream(ctx, loom.LogStderr))
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("docker %s: %w", in.Image, ctx.Err())
	case err != nil && runCtx.Err() != nil:
		return nil, fmt.Errorf("docker %s: timed out after %gs: %w", in.Image, in.Timeout, loom.ErrTimeout)
	case err != nil:
		return nil, fmt.Errorf("docker %s: %w", in.Image, err)
	case code != 0:
		return nil, fmt.Errorf("docker %s: %w", in.Image, &ExitError{Code: code, Stderr: stderr})
	}
	return loom.Values{"exit_code": 0, "stdout": stdout}, nil
}

// pull applies the input's pull policy. A missing image under PullNever is
// permanent: trying again would not make it appear.
func (h *Handler) pull(ctx context.Context, cli *client.Client, in Input) error {
	policy := in.Pull
	if policy == "" {
		policy = PullNever
	}
	if policy != PullAlways {
		_, err := cli.ImageInspect(ctx, in.Image)
		switch {
		case err == nil:
			return nil
		case !client.IsErrNotFound(err):
			return fmt.Errorf("inspect image: %w", err)
		case policy == PullNever:
			return loom.Permanent(fmt.Errorf("image not on the daemon and pull is %q: %w", PullNever, err))
		}
	}
	rc, err := cli.ImagePull(ctx, in.Image, image.PullOptions{})
	if err != nil {
		return fmt.Errorf("pull image: %w", err)
	}
	defer rc.Close()
	// The pull goes on while its progress is read; errors arrive in it.
	dec := json.NewDecoder(rc)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("pull image: %w", err)
		}
		if msg.Error != "" {
			return fmt.Errorf("pull image: %s", msg.Error)
		}
	}
}

func (h *Handler) create(ctx context.Context, cli *client.Client, in Input) (string, error) {
	labels := map[string]string{}
	if a, ok := loom.Attempt(ctx); ok {
		labels[LabelTask] = a.RunID
		labels[LabelAttempt] = strconv.Itoa(a.Attempt)
	}
	env := make([]string, 0, len(in.Env))
	for k, v := range in.Env {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	mem, _ := in.memory() // checked by validate
	cfg := &container.Config{
		Image:        in.Image,
		Cmd:          in.Command,
		Env:          env,
		WorkingDir:   in.Workdir,
		User:         in.User,
		Labels:       labels,
		AttachStdout: true,
		AttachStderr: true,
	}
	host := &container.HostConfig{
		NetworkMode: container.NetworkMode(in.network()),
		Resources: container.Resources{
			NanoCPUs: int64(in.CPUs * 1e9),
			Memory:   mem,
		},
	}
	resp, err := cli.ContainerCreate(ctx, cfg, host, nil, nil, "")
	if err != nil {
		if client.IsErrNotFound(err) {
			return "", loom.Permanent(fmt.Errorf("create container: %w", err))
		}
		return "", fmt.Errorf("create container: %w", err)
	}
	return resp.ID, nil
}

// run attaches to the container, starts it and waits for it to exit,
// stopping it when ctx ends. Its stdout goes to outLog, its stderr to
// errLog. It returns the exit code, the tail of stderr and of stdout.
func (h *Handler) run(ctx context.Context, cli *client.Client, id string, outLog, errLog io.Writer) (code int, stderr, stdout string, err error) {
	// Attach before starting, as `docker run` does, so no output is lost.
	att, err := cli.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return 0, "", "", fmt.Errorf("attach container: %w", err)
	}
	defer att.Close()
	// The wait outlives ctx, to learn when a stopped container is gone; its
	// goroutine sends once on one of its channels, so every path below
	// receives from them.
	waitCtx, waitCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer waitCancel()
	waitC, waitErrC := cli.ContainerWait(waitCtx, id, container.WaitConditionNextExit)

	out := &capture{outLog: outLog, errLog: errLog, out: tailBuffer{max: h.cfg.MaxOutput}, err: tailBuffer{max: 16 << 10}}
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(streamWriter{c: out, stdout: true}, streamWriter{c: out}, att.Reader)
		copied <- err
	}()
	if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		att.Close()
		<-copied
		waitCancel()
		select {
		case <-waitC:
		case <-waitErrC:
		}
		return 0, "", "", fmt.Errorf("start container: %w", err)
	}

	var stopErr error
	select {
	case <-ctx.Done():
		grace := int(h.cfg.KillGrace.Seconds() + 0.999)
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.KillGrace+30*time.Second)
		if err := cli.ContainerStop(stopCtx, id, container.StopOptions{Timeout: &grace}); err != nil && !client.IsErrNotFound(err) {
			_ = cli.ContainerKill(stopCtx, id, "KILL")
		}
		cancel()
		stopErr = ctx.Err()
		// The wait's goroutine sends once the container has exited, which
		// the stop or the kill brings about: receive it so that it ends.
		select {
		case <-waitC:
		case <-waitErrC:
		case <-time.After(h.cfg.KillGrace + 30*time.Second):
			waitCancel()
			select {
			case <-waitC:
			case <-waitErrC:
			}
		}
	case res := <-waitC:
		code = int(res.StatusCode)
		if res.Error != nil && res.Error.Message != "" {
			stopErr = fmt.Errorf("wait for container: %s", res.Error.Message)
		}
	case err := <-waitErrC:
		stopErr = fmt.Errorf("wait for container: %w", err)
	}
	if stopErr != nil {
		att.Close()
		<-copied
		return 0, "", "", stopErr
	}
	// The container has exited: its output stream ends with it.
	if err := <-copied; err != nil {
		return 0, "", "", fmt.Errorf("read container output: %w", err)
	}
	return code, lastLines(out.stderr(), stderrLines), out.stdout(), nil
}

// remove removes the container whatever happened to the task, on a context
// of its own: a cancelled task must still not leave it behind.
func (h *Handler) remove(cli *client.Client, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
}

// Reap removes, running or not, every container labelled by this runtime
// whose attempt running reports as no longer running, and returns how many
// it removed. A loom server calls it when it starts, so that a process
// killed mid-run leaves no container behind once the server starts again.
// An attempt label that is not a number is passed as 0.
func Reap(ctx context.Context, cli *client.Client, running func(ctx context.Context, taskID string, attempt int) (bool, error)) (int, error) {
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelTask))})
	if err != nil {
		return 0, fmt.Errorf("list loom containers: %w", err)
	}
	n := 0
	var errs []error
	for _, c := range list {
		task := c.Labels[LabelTask]
		attempt, _ := strconv.Atoi(c.Labels[LabelAttempt])
		alive, err := running(ctx, task, attempt)
		if err != nil {
			errs = append(errs, fmt.Errorf("task %s: %w", task, err))
			continue
		}
		if alive {
			continue
		}
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %.12s of task %s: %w", c.ID, task, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// lastLines returns the last n lines of s, without a trailing newline.
func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	i := len(s)
	for range n {
		j := strings.LastIndexByte(s[:i], '\n')
		if j < 0 {
			return s
		}
		i = j
	}
	return s[i+1:]
}

// capture receives a container's stdout and stderr: both go to the
// attempt's log as they arrive, each on its own stream (the demultiplexed
// attach stream tells them apart), and the tail of each is kept.
type capture struct {
	mu     sync.Mutex
	outLog io.Writer
	errLog io.Writer
	out    tailBuffer
	err    tailBuffer
}

func (c *capture) stdout() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func (c *capture) stderr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err.String()
}

// streamWriter is one of a container's two streams into a capture.
type streamWriter struct {
	c      *capture
	stdout bool
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	// The log is best effort.
	if w.stdout {
		_, _ = w.c.outLog.Write(p)
		w.c.out.Write(p)
	} else {
		_, _ = w.c.errLog.Write(p)
		w.c.err.Write(p)
	}
	return len(p), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) {
	t.buf.Write(p)
	if t.buf.Len() > 2*t.max {
		b := t.buf.Bytes()[t.buf.Len()-t.max:]
		keep := append([]byte(nil), b...)
		t.buf.Reset()
		t.buf.Write(keep)
	}
}

// String returns the kept bytes, starting at a whole UTF-8 character.
func (t *tailBuffer) String() string {
	b := t.buf.Bytes()
	if len(b) > t.max {
		b = b[len(b)-t.max:]
		for i := 0; i < 3 && len(b) > 0 && b[0]&0xC0 == 0x80; i++ {
			b = b[1:]
		}
	}
	return string(b)
}
