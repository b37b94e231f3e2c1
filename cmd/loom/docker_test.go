package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/runtime/dockerrt"
	"github.com/loomhq/loom/runtime/dockerrt/dockertest"
)

// TestDockerIsOptIn: without --allow-docker a docker task is refused with
// 422 naming the option; with it the task reaches the daemon, which runs
// only images it already has (pull "never" by default), and the server
// removed at its start the container of a process of this machine that has
// ended, and kept that of a task it does not know from a process it cannot
// check (another deployment may share the daemon). With
// --allow-docker-network or --allow-docker-mount alone the command is a
// usage error.
func TestDockerIsOptIn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := map[string]any{"image": "loom-test-absent:1", "command": []string{"true"}}
	url, _ := inProcessServer(t, filepath.Join(dir, "off.db"))
	code, body := apiRaw(t, "POST", url+"/api/v1/tasks", map[string]any{"type": "docker", "input": in})
	wantRefused(t, "docker task", code, body, "--allow-docker")

	for _, o := range []runtimeOptions{{allowDockerNet: true}, {dockerMounts: []string{"/srv"}}} {
		if err := o.validate(); err == nil || !strings.Contains(err.Error(), "needs --allow-docker") {
			t.Errorf("%+v: %v, want a usage error naming --allow-docker", o, err)
		}
	}
	if err := (runtimeOptions{allowDocker: true, dockerMounts: []string{"srv"}}).validate(); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("relative --allow-docker-mount: %v, want a usage error", err)
	}

	// A container left running by a process of this machine killed
	// mid-run (this one, with another start time) is removed when the
	// server starts; one of a task it does not know, from a process it
	// cannot check, is kept.
	cli := dockertest.Client(t)
	ctx := context.Background()
	owner := dockerrt.Owner()
	dead := owner[:strings.LastIndexByte(owner, '/')+1] + "0"
	orphan, foreign := runningContainer(t, cli, "orphan-"+filepath.Base(dir), dead), runningContainer(t, cli, "foreign-"+filepath.Base(dir), "")
	on, _ := inProcessServer(t, filepath.Join(dir, "on.db"), "--allow-docker")
	if _, err := cli.ContainerInspect(ctx, orphan); !client.IsErrNotFound(err) {
		t.Errorf("orphaned container after the server started: %v, want not found", err)
	}
	if _, err := cli.ContainerInspect(ctx, foreign); err != nil {
		t.Errorf("container of an unknown task and owner after the server started: %v, want kept", err)
	}
	var task loom.TaskInfo
	apiCode(t, "POST", on+"/api/v1/tasks", map[string]any{"type": "docker", "input": in}, &task)
	if got := endedTask(t, on, task.ID); got.Status != loom.StatusFailed || !strings.Contains(got.Msg, `pull is \"never\"`) && !strings.Contains(got.Msg, `pull is "never"`) || got.Attempt != 1 {
		t.Errorf("docker task of an absent image: %s after %d attempt(s): %s", got.Status, got.Attempt, got.Msg)
	}
}

// runningContainer starts a container labelled as an attempt of task,
// owned by owner unless it is empty, removed when the test ends.
func runningContainer(t *testing.T, cli *client.Client, task, owner string) string {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{dockerrt.LabelTask: task, dockerrt.LabelAttempt: "1"}
	if owner != "" {
		labels[dockerrt.LabelOwner] = owner
	}
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: dockertest.Image, Cmd: []string{"sleep", "600"}, Labels: labels},
		&container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}) })
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// TestDockerWorkerReapsAtStart: `loom worker --allow-docker` removes, when
// it starts, the containers a process of this machine left behind when it
// was killed, and keeps those it cannot check.
func TestDockerWorkerReapsAtStart(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	ctx := context.Background()
	dir := t.TempDir()
	owner := dockerrt.Owner()
	dead := owner[:strings.LastIndexByte(owner, '/')+1] + "0"
	orphan, foreign := runningContainer(t, cli, "orphan-"+filepath.Base(dir), dead), runningContainer(t, cli, "foreign-"+filepath.Base(dir), "")
	inProcessWorker(t, "--bus", filepath.Join(dir, "bus"), "--allow-docker")
	if _, err := cli.ContainerInspect(ctx, orphan); !client.IsErrNotFound(err) {
		t.Errorf("orphaned container after the worker started: %v, want not found", err)
	}
	if _, err := cli.ContainerInspect(ctx, foreign); err != nil {
		t.Errorf("container of an unknown owner after the worker started: %v, want kept", err)
	}
}

// TestDockerServerKilledMidRun: a server killed (SIGKILL) while a docker
// task runs leaves its container behind; started again on the same
// database, it removes that container before it listens, and the task,
// whose lease lapses, runs again as a second attempt, which completes.
// The container keeps its state in a host directory the server allows it
// to mount, so the second attempt knows it is one.
func TestDockerServerKilledMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	cli := dockertest.Client(t)
	ctx := context.Background()
	bin := buildLoom(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o777); err != nil {
		t.Fatal(err)
	}
	args := []string{"--db", filepath.Join(dir, "loom.db"), "--lease", "5s", "--allow-docker", "--allow-docker-mount", state}
	srv := startServer(t, bin, args...)
	var task loom.TaskInfo
	api(t, "POST", srv.url+"/api/v1/tasks", map[string]any{"type": "docker", "max_attempts": 2, "input": map[string]any{
		"image": dockertest.Image, "mounts": []string{state + ":/state"},
		"command": []string{"sh", "-c", `if [ -e /state/first ]; then echo second attempt; else echo > /state/first; echo first attempt; sleep 600; fi`},
	}}, &task)
	if task.ID == "" {
		t.Fatal("no task id")
	}
	var first string
	for first == "" {
		list := containersOfTask(t, cli, task.ID)
		if _, err := os.Stat(filepath.Join(state, "first")); err == nil && len(list) == 1 && list[0].State == "running" {
			first = list[0].ID
			break
		}
		select {
		case <-srv.done:
			t.Fatalf("server exited:\n%s", srv.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	if c, err := cli.ContainerInspect(ctx, first); err != nil || !c.State.Running {
		t.Fatalf("the killed server's container: %v, want it still running", err)
	}

	srv = startServer(t, bin, args...)
	if _, err := cli.ContainerInspect(ctx, first); !client.IsErrNotFound(err) {
		t.Errorf("the killed server's container once the server listens again: %v, want not found", err)
	}
	got := endedTask(t, srv.url, task.ID)
	if got.Status != loom.StatusCompleted || got.Attempt != 2 || got.Output["stdout"] != "second attempt\n" {
		t.Errorf("task after the restart: %s, attempt %d, %q, output %v", got.Status, got.Attempt, got.Msg, got.Output)
	}
	if n := len(containersOfTask(t, cli, task.ID)); n != 0 {
		t.Errorf("%d containers of the task left after it ended", n)
	}
}

// containersOfTask lists the containers, running or not, of task.
func containersOfTask(t *testing.T, cli *client.Client, task string) []container.Summary {
	t.Helper()
	list, err := cli.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", dockerrt.LabelTask+"="+task))})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// TestReadmeDockerFlow runs the README's flow file of docker steps with
// `loom run --allow-docker`. Without a registry, the busybox image it
// names is the test image tagged so, unless the daemon has the real one.
func TestReadmeDockerFlow(t *testing.T) {
	cli := dockertest.Client(t)
	ctx := context.Background()
	const img = "busybox:1.36"
	if _, err := cli.ImageInspect(ctx, img); client.IsErrNotFound(err) {
		if err := cli.ImageTag(ctx, dockertest.Image, img); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = cli.ImageRemove(ctx, img, image.RemoveOptions{}) })
	} else if err != nil {
		t.Fatal(err)
	}
	out, code := runMain(t, "run", "--allow-docker", "../../examples/docker/boxed.yaml", `{"who": "you"}`)
	if code != 0 || !strings.Contains(out, `"loud":{"GREETING":"HELLO, YOU"}`) {
		t.Errorf("run boxed: exit %d, output:\n%s", code, out)
	}
	out, code = runMainStderr(t, "run", "../../examples/docker/boxed.yaml", `{"who": "you"}`)
	if code == 0 || !strings.Contains(out, "--allow-docker") {
		t.Errorf("run boxed without --allow-docker: exit %d, output:\n%s", code, out)
	}
}
