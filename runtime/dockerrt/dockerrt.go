// Package dockerrt is the docker runtime: the task type "docker", which runs
// a task as a container on a Docker Engine (the daemon DOCKER_HOST names, or
// the local socket). Its input names the image and how to run it:
//
//	{"image": "alpine:3", "command": ["sh", "-c", "..."], "env": {"K": "V"},
//	 "workdir": "/work", "user": "1000", "cpus": 0.5, "memory": "256m",
//	 "network": "none", "pull": "never", "timeout": 30,
//	 "mounts": ["/srv/data:/data:ro"], "input": {"any": "JSON"}}
//
// The container is created with the labels LabelTask (the task id),
// LabelAttempt and LabelOwner (the process that runs it), started, and its
// stdout and stderr are streamed as they come into the attempt's log,
// each on its own stream (loom.LogStream). Exit code 0 completes the task with the output
// {"exit_code": 0, "stdout": "...", "output": ...}, stdout cut to its last
// Config.MaxOutput bytes; any other code fails the attempt with an
// *ExitError carrying the last lines of stderr. A cancelled task or a passed
// timeout stops the container (SIGTERM, then SIGKILL after
// Config.KillGrace). The container is removed in every case.
//
// Data in and out: the input's "input", when present, reaches the
// container as JSON three ways: on its stdin (then closed), in the
// environment variable EnvInput (LOOM_INPUT) when it is at most
// MaxEnvInput bytes, and in the file InputFile (/loom/input.json). The
// directory /loom is created in every container, writable by any user; a
// command that writes JSON to OutputFile (/loom/output.json) makes that
// the task's "output" (copied out before the container is removed, at most
// MaxOutputFile bytes). Without that file, the last non-empty line of
// stdout is the "output" when it is JSON; otherwise there is none.
//
// Safe defaults: the container has no network unless the input asks for one
// and Config.AllowNetwork permits it; a host path is mounted only under a
// prefix in Config.AllowMounts (none by default); and an image is never
// pulled unless the input's "pull" is "missing" or "always".
// Reap removes the containers of tasks that are no longer running, left
// behind by a server or worker that was killed mid-run.
package dockerrt

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/loomhq/loom/runtime/internal/tail"
	"io"
	"math"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
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

// Where a container finds its input and leaves its output.
const (
	// EnvInput is the environment variable that holds the input's "input"
	// as JSON, when it is at most MaxEnvInput bytes.
	EnvInput = "LOOM_INPUT"
	// MaxEnvInput bounds EnvInput: a larger input is on stdin and in
	// InputFile only (Linux limits one variable to 128 KiB).
	MaxEnvInput = 64 << 10
	// InputFile holds the input's "input" as JSON.
	InputFile = "/loom/input.json"
	// OutputFile is where a command may write its JSON output.
	OutputFile = "/loom/output.json"
	// MaxOutputFile bounds OutputFile; a larger one fails the attempt.
	MaxOutputFile = 1 << 20
)

// ErrNetworkNotAllowed is wrapped by the error of a task whose input asks
// for a network the handler's Config does not allow.
var ErrNetworkNotAllowed = errors.New("network not allowed")

// ErrMountNotAllowed is wrapped by the error of a task whose input mounts a
// host path outside Config.AllowMounts.
var ErrMountNotAllowed = errors.New("mount not allowed")

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
	// AllowMounts are the host directories whose contents a task's
	// "mounts" may bind into its container (a path is allowed when it is
	// one of them or inside one, after symbolic links are resolved on this
	// machine, which must be the daemon's). Default: none, and a task that
	// asks for a mount fails.
	AllowMounts []string
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
	// Mounts bind host paths into the container, each as
	// "HOST:CONTAINER" or "HOST:CONTAINER:ro" (or ":rw"), both absolute;
	// HOST must be under one of Config.AllowMounts.
	Mounts []string `json:"mounts,omitempty"`
	// Input is any JSON value, given to the container on stdin, in
	// EnvInput and in InputFile. Absent: stdin is empty, and neither the
	// variable nor the file exists.
	Input json.RawMessage `json:"input,omitempty"`
}

// bind is one parsed entry of Input.Mounts.
type bind struct {
	source, target string
	readOnly       bool
}

// binds parses in.Mounts.
func (in Input) binds() ([]bind, error) {
	out := make([]bind, 0, len(in.Mounts))
	for _, m := range in.Mounts {
		parts := strings.Split(m, ":")
		b := bind{}
		switch {
		case len(parts) == 2:
		case len(parts) == 3 && (parts[2] == "ro" || parts[2] == "rw"):
			b.readOnly = parts[2] == "ro"
		default:
			return nil, fmt.Errorf(`input "mounts": %q is not HOST:CONTAINER or HOST:CONTAINER:ro`, m)
		}
		b.source, b.target = parts[0], parts[1]
		if !filepath.IsAbs(b.source) || !path.IsAbs(b.target) {
			return nil, fmt.Errorf(`input "mounts": %q: both paths must be absolute`, m)
		}
		b.source, b.target = filepath.Clean(b.source), path.Clean(b.target)
		if b.target == "/" || b.target == "/loom" || strings.HasPrefix(b.target, "/loom/") {
			return nil, fmt.Errorf(`input "mounts": %q: the container path may not be / or /loom`, m)
		}
		out = append(out, b)
	}
	return out, nil
}

// allowMount checks that source, once its symbolic links are resolved, is
// one of allowed or inside one of them.
func allowMount(allowed []string, source string) error {
	real, err := filepath.EvalSymlinks(source)
	if err != nil {
		return fmt.Errorf("mount %s: %w", source, err)
	}
	for _, a := range allowed {
		ra, err := filepath.EvalSymlinks(a)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(ra, real); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil
		}
	}
	if len(allowed) == 0 {
		return fmt.Errorf("mount %s: %w (no host path may be mounted here)", source, ErrMountNotAllowed)
	}
	return fmt.Errorf("mount %s: %w (allowed: %s)", source, ErrMountNotAllowed, strings.Join(allowed, ", "))
}

// ParseInput decodes and checks a docker task's input. Unknown keys and
// wrong types are errors.
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
	_, err := in.binds()
	return err
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
	binds, _ := in.binds() // checked by ParseInput
	for _, b := range binds {
		if err := allowMount(h.cfg.AllowMounts, b.source); err != nil {
			return nil, loom.Permanent(fmt.Errorf("docker: %w", err))
		}
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
	// Whichever call a cancel or the timeout interrupts, the error says
	// which of the two it was.
	fail := func(err error) error {
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("docker %s: %w", in.Image, ctx.Err())
		case runCtx.Err() != nil:
			return fmt.Errorf("docker %s: timed out after %gs: %w", in.Image, in.Timeout, loom.ErrTimeout)
		}
		return fmt.Errorf("docker %s: %w", in.Image, err)
	}
	if err := h.pull(runCtx, cli, in); err != nil {
		return nil, fail(err)
	}
	id, err := h.create(runCtx, cli, in, binds)
	if err != nil {
		return nil, fail(err)
	}
	defer h.remove(cli, id)
	if err := cli.CopyToContainer(runCtx, id, "/", loomDir(in.Input), container.CopyToContainerOptions{}); err != nil {
		return nil, fail(fmt.Errorf("copy %s into the container: %w", InputFile, err))
	}
	code, stderr, stdout, err := h.run(runCtx, cli, id, in.Input, loom.LogStream(ctx, loom.LogStdout), loom.LogStream(ctx, loom.LogStderr))
	switch {
	case err != nil:
		return nil, fail(err)
	case code != 0:
		return nil, fmt.Errorf("docker %s: %w", in.Image, &ExitError{Code: code, Stderr: stderr})
	}
	out := loom.Values{"exit_code": 0, "stdout": stdout}
	result, ok, err := readOutput(context.WithoutCancel(ctx), cli, id, stdout)
	if err != nil {
		return nil, fmt.Errorf("docker %s: %w", in.Image, err)
	}
	if ok {
		out["output"] = result
	}
	return out, nil
}

// loomDir is a tar archive of the directory /loom, writable by any user
// so that a command run as any user can leave OutputFile there, with
// InputFile in it when there is an input.
func loomDir(input json.RawMessage) io.Reader {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// Writes to a bytes.Buffer do not fail.
	_ = tw.WriteHeader(&tar.Header{Name: "loom/", Typeflag: tar.TypeDir, Mode: 0o1777})
	if input != nil {
		_ = tw.WriteHeader(&tar.Header{Name: "loom/input.json", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(input))})
		_, _ = tw.Write(input)
	}
	_ = tw.Close()
	return &buf
}

// readOutput returns the JSON value of the exited container's OutputFile,
// else that of the last non-empty line of stdout; ok is false when
// neither holds JSON. An OutputFile that is not JSON is an error: the
// command meant it as its output.
func readOutput(ctx context.Context, cli *client.Client, id, stdout string) (v any, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rc, _, err := cli.CopyFromContainer(ctx, id, OutputFile)
	switch {
	case client.IsErrNotFound(err):
		line := tail.LastLines(strings.TrimSpace(stdout), 1)
		if line != "" && json.Unmarshal([]byte(line), &v) == nil {
			return v, true, nil
		}
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("copy %s out of the container: %w", OutputFile, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	hdr, err := tr.Next()
	if err != nil {
		return nil, false, fmt.Errorf("copy %s out of the container: %w", OutputFile, err)
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil, false, loom.Permanent(fmt.Errorf("%s is not a regular file", OutputFile))
	}
	if hdr.Size > MaxOutputFile {
		return nil, false, fmt.Errorf("%s is %d bytes, more than %d", OutputFile, hdr.Size, MaxOutputFile)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		return nil, false, fmt.Errorf("copy %s out of the container: %w", OutputFile, err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, false, fmt.Errorf("%s is not JSON: %w", OutputFile, err)
	}
	return v, true, nil
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

func (h *Handler) create(ctx context.Context, cli *client.Client, in Input, binds []bind) (string, error) {
	labels := map[string]string{LabelOwner: Owner()}
	if a, ok := loom.Attempt(ctx); ok {
		labels[LabelTask] = a.RunID
		labels[LabelAttempt] = strconv.Itoa(a.Attempt)
	}
	env := make([]string, 0, len(in.Env))
	for k, v := range in.Env {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	if in.Input != nil && len(in.Input) <= MaxEnvInput {
		env = append(env, EnvInput+"="+string(in.Input))
	}
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
		// With an input, stdin is open until the input is written, then
		// closed so that the command reads it to its end.
		AttachStdin: in.Input != nil,
		OpenStdin:   in.Input != nil,
		StdinOnce:   in.Input != nil,
	}
	var mounts []mount.Mount
	for _, b := range binds {
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: b.source, Target: b.target, ReadOnly: b.readOnly})
	}
	host := &container.HostConfig{
		NetworkMode: container.NetworkMode(in.network()),
		Mounts:      mounts,
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
func (h *Handler) run(ctx context.Context, cli *client.Client, id string, input json.RawMessage, outLog, errLog io.Writer) (code int, stderr, stdout string, err error) {
	// Attach before starting, as `docker run` does, so no output is lost.
	att, err := cli.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdin: input != nil, Stdout: true, Stderr: true})
	if err != nil {
		return 0, "", "", fmt.Errorf("attach container: %w", err)
	}
	defer att.Close()
	// The input is written once the container runs; a command that does
	// not read it blocks the write until the container exits and the
	// connection is closed, so the writer is waited for only after that.
	written := make(chan struct{})
	defer func() { att.Close(); <-written }()
	// The wait outlives ctx, to learn when a stopped container is gone; its
	// goroutine sends once on one of its channels, so every path below
	// receives from them.
	waitCtx, waitCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer waitCancel()
	waitC, waitErrC := cli.ContainerWait(waitCtx, id, container.WaitConditionNextExit)

	out := &capture{outLog: outLog, errLog: errLog, out: tail.Buffer{Max: h.cfg.MaxOutput}, err: tail.Buffer{Max: 16 << 10}}
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
		close(written)
		return 0, "", "", fmt.Errorf("start container: %w", err)
	}
	go func() {
		defer close(written)
		if input != nil {
			if _, err := att.Conn.Write(input); err == nil {
				_ = att.CloseWrite()
			}
		}
	}()

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
	return code, tail.LastLines(out.stderr(), stderrLines), out.stdout(), nil
}

// remove removes the container whatever happened to the task, on a context
// of its own: a cancelled task must still not leave it behind.
func (h *Handler) remove(cli *client.Client, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
}

// Reap removes, running or not, the containers labelled by this runtime
// that no process runs any more, and returns how many it removed. A
// container whose LabelOwner names a process of this machine is removed
// when that process has ended and kept while it lives; for any other
// (made on another machine sharing the daemon, or without the label)
// running decides: it is removed when running reports its attempt as no
// longer running, and kept when running is nil. A loom server and a loom
// worker call it when they start, so that a process killed mid-run leaves
// no container behind once it or another starts. An attempt label that is
// not a number is passed as 0.
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
		switch ownerOf(c.Labels[LabelOwner]) {
		case ownerAlive:
			continue
		case ownerUnknown:
			if running == nil {
				continue
			}
			alive, err := running(ctx, task, attempt)
			if err != nil {
				errs = append(errs, fmt.Errorf("task %s: %w", task, err))
				continue
			}
			if alive {
				continue
			}
		}
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %.12s of task %s: %w", c.ID, task, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// capture receives a container's stdout and stderr: both go to the
// attempt's log as they arrive, each on its own stream (the demultiplexed
// attach stream tells them apart), and the tail of each is kept.
type capture struct {
	mu     sync.Mutex
	outLog io.Writer
	errLog io.Writer
	out    tail.Buffer
	err    tail.Buffer
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
