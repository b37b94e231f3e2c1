package ui_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/loomhq/loom/store"
)

// TestWorkersPageShowsBusWorker shows what a worker on the bus announced:
// its host, queues, concurrency, tasks in flight and version.
func TestWorkersPageShowsBusWorker(t *testing.T) {
	t.Parallel()
	v := setup(t)
	now := time.Now()
	if err := v.store.UpsertWorker(context.Background(), store.WorkerInfo{ID: "gpu-box-7", Hostname: "gpu-host",
		Queues: []string{"gpu"}, Started: now, LastHeartbeat: now, Concurrency: 6, InFlight: 5, Version: "v3.1.4"}); err != nil {
		t.Fatal(err)
	}
	code, body := v.get(t, "/workers")
	if code != http.StatusOK {
		t.Fatalf("GET /workers: %d\n%s", code, body)
	}
	mustContain(t, body, "gpu-box-7", "gpu-host", "<dt>Concurrency</dt><dd>6</dd>", "<dt>In flight</dt><dd>5</dd>", "v3.1.4")
}
