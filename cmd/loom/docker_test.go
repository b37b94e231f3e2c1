package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/runtime/dockerrt"
	"github.com/loomhq/loom/runtime/dockerrt/dockertest"
)

// TestDockerIsOptIn: without --allow-docker a docker task is refused with
// 422 naming the option; with it the task reaches the daemon, which runs
// only images it already has (pull "never" by default), and the server
// removed at its start the containers of attempts no longer running. With
// --allow-docker-network alone the command is a usage error.
func TestDockerIsOptIn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := map[string]any{"image": "loom-test-absent:1", "command": []string{"true"}}
	url, _ := inProcessServer(t, filepath.Join(dir, "off.db"))
	code, body := apiRaw(t, "POST", url+"/api/v1/tasks", map[string]any{"type": "docker", "input": in})
	wantRefused(t, "docker task", code, body, "--allow-docker")

	if err := (runtimeOptions{allowDockerNet: true}).validate(); err == nil || !strings.Contains(err.Error(), "--allow-docker") {
		t.Errorf("--allow-docker-network alone: %v, want a usage error naming --allow-docker", err)
	}

	// A container of a task this server does not know, left running as
	// by a process killed mid-run, is removed when the server starts.
	cli := dockertest.Client(t)
	ctx := context.Background()
	orphan := "orphan-" + filepath.Base(dir)
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: dockertest.Image, Cmd: []string{"sleep", "600"},
		Labels: map[string]string{dockerrt.LabelTask: orphan, dockerrt.LabelAttempt: "1"}}, &container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}) })
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	on, _ := inProcessServer(t, filepath.Join(dir, "on.db"), "--allow-docker")
	if _, err := cli.ContainerInspect(ctx, c.ID); !client.IsErrNotFound(err) {
		t.Errorf("orphaned container after the server started: %v, want not found", err)
	}
	var task loom.TaskInfo
	apiCode(t, "POST", on+"/api/v1/tasks", map[string]any{"type": "docker", "input": in}, &task)
	if got := endedTask(t, on, task.ID); got.Status != loom.StatusFailed || !strings.Contains(got.Msg, `pull is \"never\"`) && !strings.Contains(got.Msg, `pull is "never"`) || got.Attempt != 1 {
		t.Errorf("docker task of an absent image: %s after %d attempt(s): %s", got.Status, got.Attempt, got.Msg)
	}
}
