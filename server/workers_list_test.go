package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/loomhq/loom/server"
	"github.com/loomhq/loom/store"
)

// TestListWorkers lists a worker that announced itself, alive, and one
// silent for longer than a lease, not alive, newest first.
func TestListWorkers(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	now := time.Now()
	for _, w := range []store.WorkerInfo{
		{ID: "gpu-1", Hostname: "box", Queues: []string{"gpu"}, Started: now.Add(-time.Hour), LastHeartbeat: now,
			Running: []string{"t1"}, Concurrency: 4, InFlight: 1, Version: "v1.0.0"},
		{ID: "old", Hostname: "gone", Queues: []string{"gpu"}, Started: now.Add(-2 * time.Hour), LastHeartbeat: now.Add(-time.Hour), Concurrency: 2},
	} {
		if err := st.UpsertWorker(context.Background(), w); err != nil {
			t.Fatal(err)
		}
	}
	e := setupWithStore(t, st, testHandlers(), false, server.Config{})
	resp := e.do(t, http.MethodGet, "/api/v1/workers", "")
	if resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	var got struct {
		Workers []struct {
			ID          string   `json:"id"`
			Hostname    string   `json:"hostname"`
			Queues      []string `json:"queues"`
			Running     []string `json:"running"`
			Concurrency int      `json:"concurrency"`
			InFlight    int      `json:"in_flight"`
			Version     string   `json:"version"`
			Alive       bool     `json:"alive"`
		} `json:"workers"`
	}
	if err := json.Unmarshal(resp.body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Workers) != 2 {
		t.Fatalf("got %s", resp.body)
	}
	w, old := got.Workers[0], got.Workers[1]
	if w.ID != "gpu-1" || w.Hostname != "box" || w.Concurrency != 4 || w.InFlight != 1 || w.Version != "v1.0.0" || !w.Alive ||
		len(w.Queues) != 1 || len(w.Running) != 1 {
		t.Errorf("first %+v", w)
	}
	if old.ID != "old" || old.Alive || old.Running == nil {
		t.Errorf("second %+v", old)
	}
}
