package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomhq/loom"
)

// TestKubernetesIsOptIn: without --allow-kubernetes a kubernetes task is
// refused with 422 naming the option, and the other kubernetes flags alone
// are a usage error; with it, loom needs a kubeconfig outside a cluster,
// and a server given one registers the type (its input is checked before
// anything is sent to the cluster, which no test here can reach).
func TestKubernetesIsOptIn(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	dir := t.TempDir()
	in := map[string]any{"image": "registry.example/tools:1", "memory": "256m"}
	url, _ := inProcessServer(t, filepath.Join(dir, "off.db"))
	code, body := apiRaw(t, "POST", url+"/api/v1/tasks", map[string]any{"type": "kubernetes", "input": in})
	wantRefused(t, "kubernetes task", code, body, "--allow-kubernetes")

	for _, o := range []runtimeOptions{{kubeNamespace: "jobs"}, {kubeconfig: "kc"}, {kubeNamespaces: []string{"x"}}} {
		if err := o.validate(); err == nil || !strings.Contains(err.Error(), "--allow-kubernetes") {
			t.Errorf("%+v: %v, want a usage error naming --allow-kubernetes", o, err)
		}
	}
	o := runtimeOptions{allowKube: true}
	if err := o.connectKube(); err == nil || !strings.Contains(err.Error(), "not running in a Kubernetes cluster") {
		t.Errorf("--allow-kubernetes outside a cluster without --kubeconfig: %v", err)
	}

	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: loom-jobs}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	o = runtimeOptions{allowKube: true, kubeconfig: kc, kubeNamespaces: []string{"batch"}}
	if err := o.connectKube(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(o.kube.handler.Namespaces(), ","); got != "loom-jobs,batch" {
		t.Errorf("namespaces %s, want the context's then the allowed one", got)
	}
	on, _ := inProcessServer(t, filepath.Join(dir, "on.db"), "--allow-kubernetes", "--kubeconfig", kc)
	var task loom.TaskInfo
	apiCode(t, "POST", on+"/api/v1/tasks", map[string]any{"type": "kubernetes", "input": in}, &task)
	if got := endedTask(t, on, task.ID); got.Status != loom.StatusFailed || !strings.Contains(got.Msg, "256Mi") || got.Attempt != 1 {
		t.Errorf("kubernetes task with a Docker-style memory: %s after %d attempt(s): %s", got.Status, got.Attempt, got.Msg)
	}
}
