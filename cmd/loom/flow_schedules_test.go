package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// inProcessServer runs `loom server` in-process with args (an address and
// a database are added) and returns its URL and a function that stops it
// gracefully, failing the test if it does not stop cleanly.
func inProcessServer(t *testing.T, db string, args ...string) (string, func()) {
	t.Helper()
	var logs syncBuffer
	srv := NewMain()
	srv.Stdout, srv.Stderr = &logs, &logs
	srv.Getenv = func(string) string { return "" }
	ctx, cancel := context.WithCancel(context.Background())
	args = append([]string{"server", "--addr", "127.0.0.1:0", "--db", db, "--workers", "2"}, args...)
	if err := srv.ParseFlags(ctx, args); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	url := ""
	for deadline := time.Now().Add(20 * time.Second); url == ""; {
		if m := urlInLog.FindStringSubmatch(logs.String()); m != nil {
			url = m[1]
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("server stopped: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server Run: %v\n%s", err, logs.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("server did not stop")
		}
		if err := srv.Close(); err != nil {
			t.Errorf("server Close: %v", err)
		}
	}
	t.Cleanup(stop)
	return url, stop
}

// flowSchedule is what the test reads of GET /schedules/{name}.
type flowSchedule struct {
	Name     string
	Cron     string
	Timezone string
	Jitter   string
	Paused   bool
	Cursor   time.Time
	Created  time.Time
	Updated  time.Time
	Task     struct {
		Type  string
		Input map[string]any
	}
}

// TestServerAppliesFlowSchedules starts a server on a flows directory whose
// file declares a schedule, three times on one database: the first start
// creates the schedule; the second finds it as it was (not recreated, its
// cursor not reset, a pause made through the CLI kept); the third, after
// the file changed, updates its definition and still keeps its state.
func TestServerAppliesFlowSchedules(t *testing.T) {
	dir := t.TempDir()
	flows := filepath.Join(dir, "flows")
	if err := os.Mkdir(flows, 0o755); err != nil {
		t.Fatal(err)
	}
	// Once a year: the schedule never fires during the test, so its cursor
	// moves only if a start resets it.
	const file = `name: report
inputs: [region]
schedule:
  cron: "0 0 1 1 *"
  timezone: Europe/Berlin
  jitter: %s
  input: {region: eu}
steps:
  - name: say
    exec: [echo, "{{.region}}"]
`
	write := func(jitter string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(flows, "report.yaml"), []byte(strings.Replace(file, "%s", jitter, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("30s")
	db := filepath.Join(dir, "loom.db")

	url, stop := inProcessServer(t, db, "--flows", flows)
	var first flowSchedule
	api(t, "GET", url+"/api/v1/schedules/report", nil, &first)
	if first.Cron != "0 0 1 1 *" || first.Timezone != "Europe/Berlin" || first.Jitter != "30s" || first.Paused ||
		first.Task.Type != "report" || first.Task.Input["region"] != "eu" {
		t.Fatalf("schedule after the first start: %+v", first)
	}
	if out, code := runMain(t, "--server", url, "schedules", "pause", "report"); code != 0 || !strings.Contains(out, "paused") {
		t.Fatalf("schedules pause: exit %d\n%s", code, out)
	}
	var paused flowSchedule
	api(t, "GET", url+"/api/v1/schedules/report", nil, &paused)
	stop()

	url, stop = inProcessServer(t, db, "--flows", flows)
	var second flowSchedule
	api(t, "GET", url+"/api/v1/schedules/report", nil, &second)
	if !second.Created.Equal(first.Created) || !second.Cursor.Equal(first.Cursor) {
		t.Errorf("the second start recreated or reset the schedule: created %s -> %s, cursor %s -> %s",
			first.Created, second.Created, first.Cursor, second.Cursor)
	}
	if !second.Paused {
		t.Errorf("the second start resumed a schedule paused through the CLI")
	}
	if !second.Updated.Equal(paused.Updated) {
		t.Errorf("the second start rewrote an unchanged schedule: updated %s -> %s", paused.Updated, second.Updated)
	}
	if out, code := runMain(t, "--server", url, "schedules", "list"); code != 0 || strings.Count(out, "report") != 2 {
		// One line: the name and the type are both "report".
		t.Errorf("schedules list: exit %d, want one schedule:\n%s", code, out)
	}
	if out, code := runMain(t, "--server", url, "schedules", "resume", "report"); code != 0 || strings.Contains(out, "paused") {
		t.Fatalf("schedules resume: exit %d\n%s", code, out)
	}
	var resumed flowSchedule
	api(t, "GET", url+"/api/v1/schedules/report", nil, &resumed)
	stop()

	write("1m")
	url, stopThird := inProcessServer(t, db, "--flows", flows)
	var third flowSchedule
	api(t, "GET", url+"/api/v1/schedules/report", nil, &third)
	if third.Jitter != "1m0s" {
		t.Errorf("the changed file did not update the schedule: jitter %s", third.Jitter)
	}
	if !third.Created.Equal(first.Created) || !third.Cursor.Equal(resumed.Cursor) || third.Paused {
		t.Errorf("updating the definition lost the schedule's state: %+v, was %+v", third, resumed)
	}
	var list struct{ Schedules []flowSchedule }
	api(t, "GET", url+"/api/v1/schedules", nil, &list)
	if len(list.Schedules) != 1 {
		t.Errorf("%d schedules after three starts, want 1", len(list.Schedules))
	}
	// A schedule made through the CLI is not the files' to remove.
	if out, code := runMain(t, "--server", url, "schedules", "add", "by-hand", "@daily", "--type", "report", "--input", `{"region": "us"}`); code != 0 {
		t.Fatalf("schedules add: exit %d\n%s", code, out)
	}
	stopThird()

	// The file no longer declares a schedule: the fourth start deletes
	// the one it made, and only that one.
	if err := os.WriteFile(filepath.Join(flows, "report.yaml"), []byte(file[:strings.Index(file, "schedule:")]+file[strings.Index(file, "steps:"):]), 0o644); err != nil {
		t.Fatal(err)
	}
	url, _ = inProcessServer(t, db, "--flows", flows)
	list.Schedules = nil
	api(t, "GET", url+"/api/v1/schedules", nil, &list)
	if len(list.Schedules) != 1 || list.Schedules[0].Name != "by-hand" {
		t.Errorf("schedules after the file dropped its own: %+v, want only by-hand", list.Schedules)
	}
}

// TestRunIgnoresSchedules runs a flow file that declares a schedule: `loom
// run` runs the flow once and creates no schedule.
func TestRunIgnoresSchedules(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.yaml")
	data := "name: f\nschedule: '* * * * * *'\nsteps:\n  - name: s\n    exec: [echo, ran]\n    provides: {stdout: out}\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := runMain(t, "run", path); code != 0 || !strings.Contains(out, `ran\n`) {
		t.Errorf("run: exit %d\n%s", code, out)
	}
}
