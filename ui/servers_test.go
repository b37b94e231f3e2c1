package ui_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom/cluster"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/ui"
)

func TestServersPage(t *testing.T) {
	t.Parallel()
	v := setup(t)
	code, body := v.get(t, "/servers")
	if code != http.StatusNotFound {
		t.Errorf("without a cluster: %d, want 404", code)
	}
	if strings.Contains(body, `/servers"`) {
		t.Error("without a cluster the navigation links to the servers page")
	}

	now := time.Now()
	for _, id := range []string{"srv-a", "srv-b"} {
		if err := v.store.UpsertServer(t.Context(), store.ServerInfo{ID: id, Hostname: "host-" + id, Addr: "10.0.0.1:7070", LastHeartbeat: now}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.store.CampaignLeader(t.Context(), &store.CampaignLeaderParams{Role: cluster.DefaultRole, Holder: "srv-b", Now: now.Add(-time.Minute), LeaseUntil: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	m, err := cluster.New(cluster.Config{Store: v.store, ID: "srv-a", Lease: 90 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ui.New(ui.Config{Engine: v.engine, Cluster: m}))
	t.Cleanup(srv.Close)
	v = &env{engine: v.engine, store: v.store, srv: srv}
	code, body = v.get(t, "/servers")
	if code != http.StatusOK {
		t.Fatalf("GET /servers: %d\n%s", code, body)
	}
	mustContain(t, body, `href="/servers" aria-current="page"`, "Leader: <code>srv-b</code>", "term 1",
		"<code>srv-a</code> <small class=\"muted\">(this one)</small>", "host-srv-b", "10.0.0.1:7070", "within 90 seconds")
	if n := strings.Count(body, ">leader</span> since"); n != 1 {
		t.Errorf("%d servers shown leading, want 1", n)
	}
	if n := strings.Count(body, ">follower</span>"); n != 1 {
		t.Errorf("%d followers shown, want 1", n)
	}
}
