package dockerrt_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
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
	// deadOwner is this process with another start time: a process that
	// had this pid before. liveOwner is the owner of the test's own tasks.
	deadOwner, liveOwner := ownerWithStart(t, "0"), ownerWithStart(t, "")
	deadProc, liveProc := taskID(t)+"-dead-proc", taskID(t)+"-live-proc"
	owners := map[string]string{deadProc: deadOwner, liveProc: liveOwner}
	for _, task := range []string{orphan, alive, deadProc, liveProc} {
		labels := map[string]string{dockerrt.LabelTask: task, dockerrt.LabelAttempt: "1"}
		if o, ok := owners[task]; ok {
			labels[dockerrt.LabelOwner] = o
		}
		c, err := cli.ContainerCreate(ctx, &container.Config{Image: testImage, Cmd: []string{"sleep", "600"},
			Labels: labels},
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
	// running in parallel keep theirs. The owner label wins over what the
	// engine says: the dead process's container goes though its task
	// counts as running, the live one's stays though its task does not.
	n, err := dockerrt.Reap(ctx, cli, func(_ context.Context, task string, attempt int) (bool, error) {
		if task == liveProc {
			return false, nil
		}
		return task != orphan || attempt != 1, nil
	})
	if err != nil || n != 2 {
		t.Errorf("Reap = %d, %v; want 2 removed", n, err)
	}
	for task, want := range map[string]int{deadProc: 0, liveProc: 1} {
		if got := len(containersOf(t, cli, task)); got != want {
			t.Errorf("%s has %d containers after Reap, want %d", task, got, want)
		}
	}
	// Without an engine to ask, only the owner label decides.
	if n, err := dockerrt.Reap(ctx, cli, nil); err != nil || len(containersOf(t, cli, alive)) != 1 || len(containersOf(t, cli, liveProc)) != 1 {
		t.Errorf("Reap without running = %d, %v; removed containers of unknown or live owners", n, err)
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
		{loom.Values{"image": testImage, "mounts": []string{"/:/host"}}, `mount not allowed`},
		{loom.Values{"image": testImage, "mounts": []string{"/etc:/loom/x"}}, `may not be / or /loom`},
		{loom.Values{"image": testImage, "mounts": []string{"etc:/x"}}, `must be absolute`},
		{loom.Values{"image": testImage, "mount": []string{"/:/host"}}, `unknown key "mount"`},
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

// ownerWithStart returns the LabelOwner of this process, with its start
// time replaced by start unless start is empty.
func ownerWithStart(t *testing.T, start string) string {
	t.Helper()
	label := dockerrt.Owner()
	if strings.Count(label, "/") != 3 {
		t.Skipf("owner label %q: processes cannot be checked on this system", label)
	}
	if start == "" {
		return label
	}
	return label[:strings.LastIndexByte(label, '/')+1] + start
}

// TestInputAndOutput: the input reaches the container as JSON on stdin, in
// LOOM_INPUT and in /loom/input.json; a command run as any user may write
// /loom/output.json, which becomes the output; without it the last line
// of stdout is the output when it is JSON.
func TestInputAndOutput(t *testing.T) {
	cli := dockerClient(t)
	h := dockerrt.New(dockerrt.Config{Client: cli})
	ctx := attemptCtx(context.Background(), taskID(t), io.Discard)
	input := map[string]any{"n": 2, "s": "it's"}
	out, err := h.Handle(ctx, loom.Values{"image": testImage, "user": "1000", "input": input, "command": []string{"sh", "-c",
		`read -r line; echo "stdin=$line"; echo "env=$LOOM_INPUT"; echo "file=$(cat /loom/input.json)"
		 echo '{"from": "file", "list": [1, 2]}' > /loom/output.json; echo '{"from": "stdout"}'`}})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"n":2,"s":"it's"}`
	for _, w := range []string{"stdin=" + want, "env=" + want, "file=" + want} {
		if !strings.Contains(out["stdout"].(string), w+"\n") {
			t.Errorf("stdout %q lacks %q", out["stdout"], w)
		}
	}
	if got, ok := out["output"].(map[string]any); !ok || got["from"] != "file" || len(got["list"].([]any)) != 2 {
		t.Errorf("output %#v, want the output file's JSON", out["output"])
	}

	out, err = h.Handle(ctx, loom.Values{"image": testImage, "command": []string{"sh", "-c", `test -e /loom/input.json && echo input file without input; echo '[1, "two"]'; echo`}})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := out["output"].([]any); !ok || len(got) != 2 || got[1] != "two" || strings.Contains(out["stdout"].(string), "without") {
		t.Errorf("output %#v, stdout %q; want the last stdout line's JSON", out["output"], out["stdout"])
	}
	out, err = h.Handle(ctx, loom.Values{"image": testImage, "command": []string{"echo", "not json"}})
	if _, ok := out["output"]; err != nil || ok {
		t.Errorf("output %v, %v; want none when stdout's last line is not JSON", out, err)
	}
	_, err = h.Handle(ctx, loom.Values{"image": testImage, "command": []string{"sh", "-c", "echo nope > /loom/output.json"}})
	if err == nil || !strings.Contains(err.Error(), "/loom/output.json is not JSON") {
		t.Errorf("error %v, want the output file named as not JSON", err)
	}
	// A command that never reads its input still ends.
	if _, err := h.Handle(ctx, loom.Values{"image": testImage, "input": strings.Repeat("x", 1<<20), "command": []string{"sh", "-c", "exit 0"}}); err != nil {
		t.Errorf("input left unread: %v", err)
	}
}

// TestMounts: a host path is mounted only inside Config.AllowMounts,
// after its symbolic links are resolved.
func TestMounts(t *testing.T) {
	cli := dockerClient(t)
	allowed, outside := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(allowed, "data.txt"), []byte("from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(allowed, "escape")); err != nil {
		t.Fatal(err)
	}
	h := dockerrt.New(dockerrt.Config{Client: cli, AllowMounts: []string{allowed}})
	ctx := attemptCtx(context.Background(), taskID(t), io.Discard)
	out, err := h.Handle(ctx, loom.Values{"image": testImage, "mounts": []string{allowed + ":/data:ro"},
		"command": []string{"sh", "-c", "cat /data/data.txt; echo x > /data/w 2>/dev/null || echo ' read-only'"}})
	if err != nil {
		t.Fatal(err)
	}
	if out["stdout"] != "from the host read-only\n" {
		t.Errorf("stdout %q", out["stdout"])
	}
	for _, m := range []string{outside + ":/data", filepath.Join(allowed, "escape") + ":/data", allowed + "/..:/data"} {
		_, err := h.Handle(ctx, loom.Values{"image": testImage, "mounts": []string{m}, "command": []string{"true"}})
		if !errors.Is(err, dockerrt.ErrMountNotAllowed) || !loom.IsPermanent(err) {
			t.Errorf("mount %s: %v, want a permanent ErrMountNotAllowed", m, err)
		}
	}
}

// TestFlowDockerStepsPassData: a flow file's docker steps pass data
// between containers: the first writes /loom/output.json, the second
// reads it from stdin as what it requires and answers on its last stdout
// line; a failing container fails the flow with its stderr's tail.
func TestFlowDockerStepsPassData(t *testing.T) {
	cli := dockerClient(t)
	f, err := flowfile.Parse("f.yaml", []byte(`name: boxed-pair
inputs: [who]
steps:
  - name: produce
    docker:
      image: "`+testImage+`"
      command: [sh, -c, 'echo "{\"greeting\": \"hello $WHO\", \"n\": 2}" > /loom/output.json']
      env: {WHO: "{{.who}}"}
      pull: missing
    provides: {output: made}
  - name: consume
    docker:
      image: "`+testImage+`"
      command: [sh, -c, 'read -r in; echo "got $in" >&2; echo "[$in]"']
    requires: {made: made}
    provides: {output: echoed}
`))
	if err != nil {
		t.Fatal(err)
	}
	docker := flowfile.Tasks{dockerrt.TypeName: loom.NewTask(dockerrt.TypeName, dockerrt.New(dockerrt.Config{Client: cli}))}
	task, err := f.Build(docker)
	if err != nil {
		t.Fatal(err)
	}
	res, err := loom.NewSyncExecutor(loom.Config{}).Execute(t.Context(), task, loom.Values{"who": "loom"})
	if err != nil {
		t.Fatal(err)
	}
	echoed, _ := res.Output["echoed"].([]any)
	if len(echoed) != 1 {
		t.Fatalf("flow output %v, want the second step's JSON line", res.Output)
	}
	got, _ := echoed[0].(map[string]any)["made"].(map[string]any)
	if got["greeting"] != "hello loom" || got["n"] != 2.0 {
		t.Errorf("second step read %v, want the first step's output", echoed[0])
	}

	f, err = flowfile.Parse("g.yaml", []byte(`name: boxed-fail
steps:
  - name: fail
    docker: {image: "`+testImage+`", command: [sh, -c, 'echo first >&2; echo last words >&2; exit 7']}
`))
	if err != nil {
		t.Fatal(err)
	}
	if task, err = f.Build(docker); err != nil {
		t.Fatal(err)
	}
	_, err = loom.NewSyncExecutor(loom.Config{}).Execute(t.Context(), task, nil)
	var ee *dockerrt.ExitError
	if !errors.As(err, &ee) || ee.Code != 7 || ee.Stderr != "first\nlast words" {
		t.Errorf("failing step: %v, want exit status 7 with the stderr's tail", err)
	}
}
