package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loomhq/loom"
)

// scheduledRuns returns the scheduled times of schedule name's runs, by
// the idempotency keys of its tasks, sorted; it fails on a duplicate.
func scheduledRuns(t *testing.T, url, name string) []time.Time {
	t.Helper()
	var page struct{ Tasks []loom.TaskInfo }
	api(t, "GET", url+"/api/v1/tasks?limit=1000&q=schedule:"+name+"@", nil, &page)
	seen := map[time.Time]bool{}
	var out []time.Time
	for _, task := range page.Tasks {
		s, ok := strings.CutPrefix(task.IdempotencyKey, "schedule:"+name+"@")
		if !ok {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("task %s: key %q", task.ID, task.IdempotencyKey)
		}
		if seen[at] {
			t.Fatalf("two runs for %s", at)
		}
		seen[at] = true
		out = append(out, at)
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// TestScheduleEndToEnd runs the built binary with a schedule firing every
// second: in 5 seconds it creates exactly the 5 runs due, and after a
// SIGKILL and a restart on the same database every second since the
// schedule was created has exactly one run (the seconds of the downtime
// caught up, none doubled).
func TestScheduleEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildLoom(t)
	db := filepath.Join(t.TempDir(), "loom.db")
	args := []string{"--db", db, "--workers", "4", "--allow-exec"}
	srv := startServer(t, bin, args...)

	var sc struct {
		Cursor time.Time
		Next   []time.Time
	}
	code := api(t, "POST", srv.url+"/api/v1/schedules", map[string]any{
		"name": "tick", "cron": "* * * * * *", "timezone": "Europe/Berlin", "overlap": "allow",
		"task": map[string]any{"type": "exec", "input": map[string]any{"command": []string{"true"}}},
	}, &sc)
	if code != 201 {
		t.Fatalf("create schedule: %d", code)
	}
	if len(sc.Next) != 5 || !sc.Next[0].Equal(sc.Cursor.Add(time.Second)) {
		t.Fatalf("next fires %v after cursor %s", sc.Next, sc.Cursor)
	}
	start := sc.Cursor
	time.Sleep(time.Until(start.Add(5*time.Second + 800*time.Millisecond)))
	var first []time.Time
	for _, at := range scheduledRuns(t, srv.url, "tick") {
		if !at.After(start.Add(5 * time.Second)) {
			first = append(first, at)
		}
	}
	if len(first) != 5 {
		t.Fatalf("in the first 5s the schedule fired %d times, want 5: %v", len(first), first)
	}

	// The CLI sees it too.
	out, err := execCLI(bin, srv.url, "schedules", "list")
	if err != nil || !strings.Contains(out, "tick") || !strings.Contains(out, "* * * * * *") {
		t.Fatalf("schedules list: %v\n%s", err, out)
	}

	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	killed := time.Now()
	time.Sleep(2 * time.Second)
	srv = startServer(t, bin, args...)
	time.Sleep(2500 * time.Millisecond)
	if _, err := execCLI(bin, srv.url, "schedules", "pause", "tick"); err != nil {
		t.Fatal(err)
	}
	runs := scheduledRuns(t, srv.url, "tick")
	last := runs[len(runs)-1]
	if !last.After(killed.Add(2 * time.Second)) {
		t.Fatalf("no run after the restart: last %s, killed at %s", last, killed)
	}
	want := int(last.Sub(start) / time.Second)
	if len(runs) != want {
		t.Errorf("%d runs from %s to %s, want one a second (%d)", len(runs), start, last, want)
	}
	for i, at := range runs {
		if exp := start.Add(time.Duration(i+1) * time.Second); !at.Equal(exp) {
			t.Fatalf("run %d is for %s, want %s: a fire was lost", i, at, exp)
		}
	}
	t.Logf("%d runs, one a second, across a kill at %s", len(runs), killed.Format(time.RFC3339Nano))
}

func execCLI(bin, url string, args ...string) (string, error) {
	out, err := exec.Command(bin, append([]string{"--server", url}, args...)...).CombinedOutput()
	return string(out), err
}

// receiver is a webhook endpoint recording what it receives.
type receiver struct {
	mu     sync.Mutex
	bodies []map[string]any
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var v map[string]any
	_ = json.Unmarshal(b, &v)
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, v)
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// events returns "<event> <kind>" of each notification received.
func (rc *receiver) events() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, b := range rc.bodies {
		a, _ := b["alert"].(map[string]any)
		out = append(out, fmt.Sprintf("%v %v", b["event"], a["kind"]))
	}
	return out
}

func (rc *receiver) waitFor(t *testing.T, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !slices.Contains(rc.events(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %s; received %v", want, within, rc.events())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAlertsEndToEnd runs the built binary with a webhook notifier: a task
// that fails after its last attempt and a heartbeat check that goes
// silent each send exactly one alert, and then exactly one resolve once a
// task of the type completes and the check is pinged.
func TestAlertsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildLoom(t)
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	t.Cleanup(hook.Close)
	srv := startServer(t, bin, "--db", filepath.Join(t.TempDir(), "loom.db"), "--workers", "4", "--allow-exec", "--allow-private-net")

	api(t, "POST", srv.url+"/api/v1/notifiers", map[string]any{"name": "ops", "url": hook.URL}, nil)

	// A failing task, twice: one outage, one alert.
	for range 2 {
		var task loom.TaskInfo
		api(t, "POST", srv.url+"/api/v1/tasks", map[string]any{"type": "exec", "max_attempts": 2,
			"input": map[string]any{"command": []string{"false"}}}, &task)
		waitEnded(t, srv.url, task.ID)
	}
	rc.waitFor(t, "alert.opened task_failed", 10*time.Second)

	// A silent check.
	api(t, "POST", srv.url+"/api/v1/checks", map[string]any{"name": "backup", "period": "1s", "grace": "1s"}, nil)
	rc.waitFor(t, "alert.opened check_late", 10*time.Second)

	// Recovery.
	var ok loom.TaskInfo
	api(t, "POST", srv.url+"/api/v1/tasks", map[string]any{"type": "exec", "input": map[string]any{"command": []string{"true"}}}, &ok)
	waitEnded(t, srv.url, ok.ID)
	rc.waitFor(t, "alert.resolved task_failed", 10*time.Second)
	if out, err := execCLI(bin, srv.url, "checks", "ping", "backup"); err != nil || !strings.Contains(out, "backup: pinged") {
		t.Fatalf("checks ping: %v\n%s", err, out)
	}
	rc.waitFor(t, "alert.resolved check_late", 10*time.Second)
	// Stop the check before it goes late again, then let things settle.
	api(t, "DELETE", srv.url+"/api/v1/checks/backup", nil, nil)
	time.Sleep(2 * time.Second)

	got := rc.events()
	slices.Sort(got)
	want := []string{"alert.opened check_late", "alert.opened task_failed", "alert.resolved check_late", "alert.resolved task_failed"}
	if !slices.Equal(got, want) {
		t.Errorf("notifications %v, want exactly %v", got, want)
	}
	var log struct{ Deliveries []struct{ Status string } }
	api(t, "GET", srv.url+"/api/v1/deliveries", nil, &log)
	if len(log.Deliveries) != 4 {
		t.Errorf("delivery log has %d entries, want 4", len(log.Deliveries))
	}
	for _, d := range log.Deliveries {
		if d.Status != "delivered" {
			t.Errorf("delivery %+v", d)
		}
	}
}

// waitEnded waits until a task has ended.
func waitEnded(t *testing.T, url, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var task loom.TaskInfo
		api(t, "GET", url+"/api/v1/tasks/"+id, nil, &task)
		if task.Status.Terminal() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s still %s", id, task.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
