package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/runtime/dockerrt"
)

// TestDockerIsOptIn: without --allow-docker a docker task is refused with
// 422 naming the option; with it the task reaches the daemon, which runs
// only images it already has (pull "never" by default). With
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

	cli, err := dockerrt.NewClient()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = cli.Ping(ctx)
		cancel()
		cli.Close()
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("docker daemon not reachable under CI: %v", err)
		}
		t.Skipf("docker daemon not reachable: %v", err)
	}
	on, _ := inProcessServer(t, filepath.Join(dir, "on.db"), "--allow-docker")
	var task loom.TaskInfo
	apiCode(t, "POST", on+"/api/v1/tasks", map[string]any{"type": "docker", "input": in}, &task)
	if got := endedTask(t, on, task.ID); got.Status != loom.StatusFailed || !strings.Contains(got.Msg, `pull is \"never\"`) && !strings.Contains(got.Msg, `pull is "never"`) || got.Attempt != 1 {
		t.Errorf("docker task of an absent image: %s after %d attempt(s): %s", got.Status, got.Attempt, got.Msg)
	}
}
