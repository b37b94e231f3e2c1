package dockerrt_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"go.uber.org/goleak"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/flowfile"
	"github.com/loomhq/loom/runtime/dockerrt"
	"github.com/loomhq/loom/runtime/dockerrt/dockertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testImage = dockertest.Image

func dockerClient(t *testing.T) *client.Client { return dockertest.Client(t) }

// attemptLog is a log a test can read while the container runs: buf
// holds every stream, stderr what came on stderr.
type attemptLog struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	stderr bytes.Buffer
}

// Stream makes attemptLog a loom.LogStreamer, as the engine's logs are.
func (l *attemptLog) Stream(name string) io.Writer {
	if name == loom.LogStderr {
		return stderrLog{l}
	}
	return l
}

// Stderr returns what came on stderr.
func (l *attemptLog) Stderr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stderr.String()
}

type stderrLog struct{ l *attemptLog }

func (w stderrLog) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	w.l.stderr.Write(p)
	return w.l.buf.Write(p)
}

func (l *attemptLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *attemptLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// attemptCtx is a context as the engine gives a handler: an attempt of
// task id with log as its log.
func attemptCtx(ctx context.Context, id string, log io.Writer) context.Context {
	ctx = loom.ContextWithAttempt(ctx, loom.AttemptInfo{RunID: id, Attempt: 1, MaxAttempts: 1})
	return loom.ContextWithLogWriter(ctx, log)
}

// containersOf lists the containers, running or not, labelled with task.
func containersOf(t *testing.T, cli *client.Client, task string) []container.Summary {
	t.Helper()
	list, err := cli.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", dockerrt.LabelTask+"="+task))})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func taskID(t *testing.T) string {
	return "test-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + time.Now().Format("150405.000000000")
}

func TestCompletesWithOutput(t *testing.T) {
	cli := dockerClient(t)
	h := dockerrt.New(dockerrt.Config{Client: cli})
	log := &attemptLog{}
	id := taskID(t)
	out, err := h.Handle(attemptCtx(context.Background(), id, log), loom.Values{
		"image":   testImage,
		"command": []string{"sh", "-c", `echo "hello $WHO"; echo "in $(pwd)"; echo warn >&2`},
		"env":     map[string]string{"WHO": "loom"},
		"workdir": "/bin",
		"memory":  "64m",
		"cpus":    0.5,
	})
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if out["exit_code"] != 0 || out["stdout"] != "hello loom\nin /bin\n" {
		t.Errorf("output %v", out)
	}
	if got := log.String(); !strings.Contains(got, "hello loom") || !strings.Contains(got, "warn") {
		t.Errorf("log %q lacks stdout or stderr", got)
	}
	if got := log.Stderr(); got != "warn\n" {
		t.Errorf("stderr stream %q, want the line written to stderr alone", got)
	}
	if n := len(containersOf(t, cli, id)); n != 0 {
		t.Errorf("%d containers left after the task", n)
	}
}

func TestFailsWithExitCodeAndStderr(t *testing.T) {
	cli := dockerClient(t)
	h := dockerrt.New(dockerrt.Config{Client: cli})
	id := taskID(t)
	_, err := h.Handle(attemptCtx(context.Background(), id, io.Discard), loom.Values{
		"image":   testImage,
		"command": []string{"sh", "-c", `for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo "line $i" >&2; done; exit 3`},
	})
	var ee *dockerrt.ExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Fatalf("error %v, want an ExitError with code 3", err)
	}
	if !strings.Contains(err.Error(), "exit status 3") || !strings.HasSuffix(ee.Stderr, "line 12") ||
		!strings.HasPrefix(ee.Stderr, "line 3\n") {
		t.Errorf("error %q: want the code and the last 10 lines of stderr", err)
	}
	if loom.IsPermanent(err) {
		t.Errorf("exit code error is permanent; a retry policy should retry it")
	}
	if n := len(containersOf(t, cli, id)); n != 0 {
		t.Errorf("%d containers left after the task", n)
	}
}

func TestCancelStopsAndRemoves(t *testing.T) {
	cli := dockerClient(t)
	h := dockerrt.New(dockerrt.Config{Client: cli, KillGrace: time.Second})
	log := &attemptLog{}
	id := taskID(t)
	ctx, cancel := context.WithCancel(attemptCtx(context.Background(), id, log))
	defer cancel()
	done := make(chan error, 1)
	go func() {
		// sh ignores nothing, but as PID 1 it gets no default SIGTERM
		// action: the grace period ends in SIGKILL.
		_, err := h.Handle(ctx, loom.Values{"image": testImage, "command": []string{"sh", "-c", "echo started; sleep 600"}})
		done <- err
	}()
	// The log is streamed live: "started" shows while the container runs.
	for !strings.Contains(log.String(), "started") {
		select {
		case err := <-done:
			t.Fatalf("Handle returned before cancel: %v (log %q)", err, log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if n := len(containersOf(t, cli, id)); n != 1 {
		t.Fatalf("%d containers labelled with the task while it runs, want 1", n)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if n := len(containersOf(t, cli, id)); n != 0 {
		t.Errorf("%d containers left after cancel", n)
	}
}

func TestTimeout(t *testing.T) {
	cli := dockerClient(t)
	h := dockerrt.New(dockerrt.Config{Client: cli, KillGrace: time.Second})
	id := taskID(t)
	_, err := h.Handle(attemptCtx(context.Background(), id, io.Discard), loom.Values{
		"image": testImage, "command": []string{"sleep", "600"}, "timeout": 1,
	})
	if !errors.Is(err, loom.ErrTimeout) {
		t.Errorf("error %v, want loom.ErrTimeout", err)
	}
	if n := len(containersOf(t, cli, id)); n != 0 {
		t.Errorf("%d containers left after timeout", n)
	}
}

func TestReapRemovesOrphans(t *testing.T) {
	cli := dockerClient(t)
	ctx := context.Background()
	orphan, alive := taskID(t)+"-orphan", taskID(t)+"-alive"
	for _, task := range []string{orphan, alive} {
		c, err := cli.ContainerCreate(ctx, &container.Config{Image: testImage, Cmd: []string{"sleep", "600"},
			Labels: map[string]string{dockerrt.LabelTask: task, dockerrt.LabelAttempt: "1"}},
			&container.HostConfig{NetworkMode: "none"}, nil, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}) })
		if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Containers of other tests' tasks count as running, so that tests
	// running in parallel keep theirs.
	n, err := dockerrt.Reap(ctx, cli, func(_ context.Context, task string, attempt int) (bool, error) {
		return task != orphan || attempt != 1, nil
	})
	if err != nil || n != 1 {
		t.Errorf("Reap = %d, %v; want 1 removed", n, err)
	}
	if got := len(containersOf(t, cli, orphan)); got != 0 {
		t.Errorf("orphan has %d containers after Reap", got)
	}
	if got := len(containersOf(t, cli, alive)); got != 1 {
		t.Errorf("running task has %d containers after Reap, want 1", got)
	}
}

func TestSafeDefaults(t *testing.T) {
	cli := dockerClient(t)
	h := dockerrt.New(dockerrt.Config{Client: cli})
	ctx := attemptCtx(context.Background(), taskID(t), io.Discard)
	// No network: an interface list shows only loopback.
	out, err := h.Handle(ctx, loom.Values{"image": testImage, "command": []string{"sh", "-c", "cat /proc/net/dev"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := out["stdout"].(string); strings.Contains(s, "eth0") || !strings.Contains(s, "lo:") {
		t.Errorf("interfaces without asking for a network:\n%s", s)
	}
	for _, tc := range []struct {
		in   loom.Values
		want string
	}{
		{loom.Values{"image": testImage, "network": "bridge"}, "network not allowed"},
		{loom.Values{"image": "loom-test-absent:1"}, `pull is "never"`},
		{loom.Values{"image": testImage, "mounts": []string{"/:/host"}}, `unknown key "mounts"`},
		{loom.Values{"image": testImage, "pull": "sometimes"}, `"pull"`},
		{loom.Values{"command": []string{"true"}}, `"image": required`},
	} {
		_, err := h.Handle(ctx, tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !loom.IsPermanent(err) {
			t.Errorf("input %v: error %v, want a permanent error containing %q", tc.in, err, tc.want)
		}
	}
}

// TestFlowStep: a flow file's "type: docker" step runs its container, and
// the flow's input cannot replace the image or command the file names.
func TestFlowStep(t *testing.T) {
	cli := dockerClient(t)
	f, err := flowfile.Parse("f.yaml", []byte(`name: boxed
steps:
  - name: run
    type: docker
    input: {image: "`+testImage+`", command: [echo, from the file]}
    provides: {stdout: said}
`))
	if err != nil {
		t.Fatal(err)
	}
	task, err := f.Build(flowfile.Tasks{dockerrt.TypeName: loom.NewTask(dockerrt.TypeName, dockerrt.New(dockerrt.Config{Client: cli}))})
	if err != nil {
		t.Fatal(err)
	}
	res, err := loom.NewSyncExecutor(loom.Config{}).Execute(t.Context(), task, loom.Values{"command": []string{"sh", "-c", "echo replaced"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Output["said"] != "from the file\n" {
		t.Errorf("flow output %v, want the file's command's stdout", res.Output)
	}
}

// TestOutputKeepsTail: the output's stdout is the last MaxOutput bytes;
// the log has all of it.
func TestOutputKeepsTail(t *testing.T) {
	cli := dockerClient(t)
	h := dockerrt.New(dockerrt.Config{Client: cli, MaxOutput: 5})
	log := &attemptLog{}
	out, err := h.Handle(attemptCtx(context.Background(), taskID(t), log), loom.Values{"image": testImage, "command": []string{"echo", "hello world"}})
	if err != nil {
		t.Fatal(err)
	}
	if out["stdout"] != "orld\n" || log.String() != "hello world\n" {
		t.Errorf("stdout %q, log %q", out["stdout"], log.String())
	}
}
