package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/loomhq/loom/cluster"
	"github.com/loomhq/loom/server"
	"github.com/loomhq/loom/store"
)

func TestListServers(t *testing.T) {
	t.Parallel()
	e := setup(t, false, server.Config{})
	var none cluster.Status
	e.do(t, http.MethodGet, "/api/v1/servers", "").decode(t, &none)
	if none.Leader != nil || len(none.Servers) != 0 {
		t.Fatalf("a server outside a cluster lists %+v", none)
	}

	st := openStore(t)
	cs := st.(store.ClusterStore)
	m, err := cluster.New(cluster.Config{Store: cs, ID: "b", Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, id := range []string{"a", "b"} {
		if err := cs.UpsertServer(t.Context(), store.ServerInfo{ID: id, Addr: id + ":7070", LastHeartbeat: now}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.CampaignLeader(t.Context(), &store.CampaignLeaderParams{Role: cluster.DefaultRole, Holder: "a", Now: now, LeaseUntil: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	e = setupWithStore(t, st, testHandlers(), false, server.Config{Cluster: m})
	resp := e.do(t, http.MethodGet, "/api/v1/servers", "")
	if resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	var got cluster.Status
	resp.decode(t, &got)
	if got.Self != "b" || got.Leader == nil || got.Leader.Holder != "a" || len(got.Servers) != 2 {
		t.Fatalf("got %+v", got)
	}
	if a := got.Servers[0]; !a.Leader || a.LeaderSince == nil || !a.LeaderSince.Equal(got.Leader.Since) || a.Addr != "a:7070" {
		t.Fatalf("server a: %+v", a)
	}
	if b := got.Servers[1]; b.Leader || b.LeaderSince != nil {
		t.Fatalf("server b: %+v", b)
	}
}
