package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/cluster"
)

// servers returns what GET /api/v1/servers answers at base.
func servers(t *testing.T, base string) cluster.Status {
	t.Helper()
	var st cluster.Status
	api(t, "GET", base+"/api/v1/servers", nil, &st)
	return st
}

// leaderOf waits until a server leads, as base sees it, and returns its id.
func leaderOf(t *testing.T, base string, within time.Duration) string {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		if st := servers(t, base); st.Leader != nil {
			return st.Leader.Holder
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server leads after %s", within)
		}
	}
}

// post submits body to url as JSON and decodes the answer into out; it
// returns an error rather than failing the test, for a server that may be
// down.
func post(url string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%d %s", resp.StatusCode, data)
	}
	return json.Unmarshal(data, out)
}

// idOf is the cluster id of the server at base: the one it answers as.
func idOf(t *testing.T, base string) string {
	t.Helper()
	return servers(t, base).Self
}

// TestClusterEndToEnd runs two `loom server` processes on one PostgreSQL
// schema: 2,000 exec tasks are submitted alternately to both while a
// schedule fires every second, and the leader is killed with SIGKILL
// mid-run, then restarted. Every task completes, none runs twice unless
// the kill cut its attempt (its lapsed lease shows it), and the schedule
// fires exactly once for each second, across the handover.
func TestClusterEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dbURL := os.Getenv("LOOM_TEST_POSTGRES_URL")
	if dbURL == "" {
		t.Skip("LOOM_TEST_POSTGRES_URL is not set")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "loom_e2e_cluster_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		if err := dropSchema(context.Background(), dbURL, schema); err != nil {
			t.Error(err)
		}
	})
	bin := buildLoom(t)
	dir := t.TempDir()
	const leaderLease = 2 * time.Second
	serverArgs := []string{"--db", dbURL, "--db-schema", schema, "--workers", "8", "--lease", "2s",
		"--leader-lease", leaderLease.String(), "--allow-exec", "--secret-key-file", filepath.Join(dir, "loom.key")}
	procs := []*proc{startServer(t, bin, serverArgs...)}
	first := leaderOf(t, procs[0].url, 30*time.Second)
	if first != idOf(t, procs[0].url) {
		t.Fatalf("the only server does not lead: %s does", first)
	}
	procs = append(procs, startServer(t, bin, serverArgs...))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st := servers(t, procs[1].url)
		if len(st.Servers) == 2 && st.Leader != nil && st.Leader.Holder == first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second server sees %+v", st)
		}
	}

	// The schedule: a run every second, ahead of the other tasks.
	api(t, "POST", procs[1].url+"/api/v1/schedules", map[string]any{
		"name": "tick", "cron": "* * * * * *", "overlap": "allow",
		"task": map[string]any{"type": "exec", "priority": 10, "input": map[string]any{"command": []string{"true"}}},
	}, nil)
	ticks := func() []loom.TaskInfo {
		var all []loom.TaskInfo
		cursor := ""
		for {
			var page struct {
				Tasks []loom.TaskInfo
				Next  string
			}
			api(t, "GET", procs[1].url+"/api/v1/tasks?limit=1000&q="+url.QueryEscape("schedule:tick@")+"&cursor="+url.QueryEscape(cursor), nil, &page)
			all = append(all, page.Tasks...)
			if cursor = page.Next; cursor == "" {
				return all
			}
		}
	}
	for deadline := time.Now().Add(30 * time.Second); len(ticks()) < 3; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the schedule did not fire 3 times in 30s")
		}
	}

	// 2,000 tasks, submitted alternately to both servers; the leader is
	// killed with SIGKILL once a fifth of them ran, while submits go on
	// (to the other server while it is down).
	out := filepath.Join(dir, "out.txt")
	const n = 2000
	ids := make([]string, n)
	var (
		mu   sync.Mutex
		down = -1
	)
	submit := func(i int) {
		key := fmt.Sprintf("task-%04d", i)
		body := map[string]any{
			"type": "exec", "max_attempts": 3, "idempotency_key": key,
			"input": map[string]any{
				"command": []string{"sh", "-c", "sleep 0.1; echo $ID >> " + out},
				"env":     map[string]string{"ID": key},
			},
		}
		for try := 0; ; try++ {
			mu.Lock()
			target := i % 2
			if target == down || try%2 == 1 {
				target = 1 - target
			}
			base := procs[target].url
			mu.Unlock()
			var got loom.TaskInfo
			// The idempotency key makes a submit repeated after a
			// lost answer the same task.
			if err := post(base+"/api/v1/tasks", body, &got); err == nil {
				ids[i] = got.ID
				return
			} else if try > 20 {
				t.Errorf("submit %s: %v", key, err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				submit(i)
			}
		})
	}
	for deadline := time.Now().Add(3 * time.Minute); len(countLines(t, out)) < n/5; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d tasks ran in 3m", len(countLines(t, out)), n)
		}
	}
	leader := leaderOf(t, procs[0].url, 10*time.Second)
	dead, alive := 0, 1
	if idOf(t, procs[1].url) == leader {
		dead, alive = 1, 0
	}
	mu.Lock()
	down = dead
	mu.Unlock()
	killedAt := time.Now()
	if err := procs[dead].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-procs[dead].done
	before := len(countLines(t, out))
	var takeover time.Duration
	for {
		if st := servers(t, procs[alive].url); st.Leader != nil && st.Leader.Holder != leader {
			takeover = time.Since(killedAt)
			break
		}
		if time.Since(killedAt) > 10*leaderLease {
			t.Fatalf("no server took over within %s of the leader's death", 10*leaderLease)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if takeover > leaderLease+time.Second {
		// Generous: the lease lapses within one period of the death; the
		// rest is this test's polling on a busy machine.
		t.Errorf("the other server took over %s after the kill; the lease is %s", takeover, leaderLease)
	}
	restarted := startServer(t, bin, serverArgs...)
	mu.Lock()
	procs[dead], down = restarted, -1
	mu.Unlock()
	wg.Wait()
	t.Logf("killed the leader with %d of %d tasks done; the other server led %s later; restarted it", before, n, takeover.Round(time.Millisecond))
	// The schedule keeps creating runs: wait for the 2,000 tasks alone.
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		var page struct{ Tasks []loom.TaskInfo }
		api(t, "GET", procs[alive].url+"/api/v1/tasks?status=pending,running&limit=1&q=task-", nil, &page)
		if len(page.Tasks) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks still live after 5m, e.g. %+v", page.Tasks[0])
		}
	}
	// Two more fires after the restart, then the schedule stops.
	time.Sleep(2500 * time.Millisecond)
	api(t, "DELETE", procs[dead].url+"/api/v1/schedules/tick", nil, nil)
	if st := servers(t, procs[dead].url); len(st.Servers) < 2 || st.Leader == nil {
		t.Errorf("after the restart: %+v", st)
	}

	// Every task completed; a second run only where the kill cut one.
	lines := countLines(t, out)
	reran := 0
	for i, id := range ids {
		key := fmt.Sprintf("task-%04d", i)
		var got loom.TaskInfo
		api(t, "GET", procs[alive].url+"/api/v1/tasks/"+id, nil, &got)
		if got.Status != loom.StatusCompleted {
			t.Errorf("task %s (%s): %s %s", key, id, got.Status, got.Msg)
		}
		switch c := lines[key]; {
		case c == 0:
			t.Errorf("task %s never ran", key)
		case c > 1 && got.Attempt < 2 && got.LeaseExpiries == 0:
			t.Errorf("task %s ran %d times in attempt %d with no lapsed lease", key, c, got.Attempt)
		case c > 1:
			reran++
		}
	}

	// The schedule fired once for each second, before, across and after
	// the handover.
	runs := ticks()
	scheduled := make([]time.Time, 0, len(runs))
	created := make([]time.Time, 0, len(runs))
	for _, r := range runs {
		s, _ := r.Attributes["scheduled"].(string)
		at, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("tick %s: scheduled %q: %v", r.ID, s, err)
		}
		scheduled = append(scheduled, at)
		created = append(created, r.Created)
	}
	slices.SortFunc(scheduled, time.Time.Compare)
	slices.SortFunc(created, time.Time.Compare)
	var maxCreatedGap time.Duration
	for i := 1; i < len(scheduled); i++ {
		switch gap := scheduled[i].Sub(scheduled[i-1]); {
		case gap == 0:
			t.Errorf("the schedule fired twice for %s", scheduled[i])
		case gap > 2*time.Second:
			t.Errorf("the schedule missed %s before %s", gap-time.Second, scheduled[i])
		case gap != time.Second:
			t.Errorf("fires %s and %s are %s apart, not a second", scheduled[i-1], scheduled[i], gap)
		}
		maxCreatedGap = max(maxCreatedGap, created[i].Sub(created[i-1]))
	}
	// The fires missed during the handover are created late, by the new
	// leader, each once; only a stalled scheduler would wait far longer.
	if maxCreatedGap > 10*leaderLease {
		t.Errorf("%s passed between two fires' creation (the lease is %s)", maxCreatedGap, leaderLease)
	}
	if len(scheduled) == 0 || !scheduled[0].Before(killedAt) || !scheduled[len(scheduled)-1].After(killedAt.Add(takeover)) {
		t.Errorf("the fires do not span the handover: %d fires", len(scheduled))
	}
	t.Logf("%d tasks completed, %d ran again after a cut attempt; %d fires, one per second from %s to %s; "+
		"longest wait between two fires' creation %s (the handover)", n, reran, len(scheduled),
		scheduled[0].Format(time.TimeOnly), scheduled[len(scheduled)-1].Format(time.TimeOnly), maxCreatedGap.Round(time.Millisecond))
}
