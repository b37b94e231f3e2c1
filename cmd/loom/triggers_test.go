package main

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestTriggersAndNotifiersCLI drives `loom triggers` and `loom notifiers`
// against an in-process server.
func TestTriggersAndNotifiersCLI(t *testing.T) {
	url, _ := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"), "--allow-exec")
	cli := func(args ...string) (string, int) {
		t.Helper()
		return runMain(t, append([]string{"--server", url}, args...)...)
	}

	out, code := cli("triggers", "add", "echo-orders", "--type", "exec", "--input", `{"command":["echo","order"]}`,
		"--filter", `type == "order.created"`)
	if code != 0 || !strings.Contains(out, "echo-orders: event trigger starting exec") {
		t.Fatalf("triggers add: exit %d\n%s", code, out)
	}
	out, code = cli("triggers", "add", "after-exec", "--type", "exec", "--input", `{"command":["true"]}`,
		"--on-type", "exec", "--on-result", "error", "--map", "failed=data.id", "--filter", `data.input.command[0] == "false"`)
	if code != 0 || !strings.Contains(out, "completion trigger starting exec when exec ends error") {
		t.Fatalf("triggers add completion: exit %d\n%s", code, out)
	}
	out, code = cli("triggers", "add", "gh", "--type", "exec", "--secret", "s3cret")
	if code != 0 || !strings.Contains(out, "/api/v1/hooks/gh") {
		t.Fatalf("triggers add webhook: exit %d\n%s", code, out)
	}
	out, code = cli("triggers", "list")
	if code != 0 || !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "after-exec") || !strings.Contains(out, "exec ends error") ||
		!strings.Contains(out, "webhook") || strings.Contains(out, "s3cret") {
		t.Errorf("triggers list: exit %d\n%s", code, out)
	}
	out, code = cli("--json", "triggers", "list")
	var trs []struct{ Name, Kind, Secret string }
	if code != 0 || json.Unmarshal([]byte(out), &trs) != nil || len(trs) != 3 || trs[2].Name != "gh" || trs[2].Secret != "********" {
		t.Errorf("triggers list --json: exit %d\n%s", code, out)
	}

	// The event trigger starts its task.
	out, code = cli("event", "order.created", `{"id": "o-1"}`)
	if code != 0 || !strings.Contains(out, `"trigger": "echo-orders"`) || !strings.Contains(out, `"created": true`) {
		t.Errorf("event: exit %d\n%s", code, out)
	}

	if out, code = cli("triggers", "delete", "gh"); code != 0 || out != "deleted gh\n" {
		t.Errorf("triggers delete: exit %d\n%s", code, out)
	}
	if _, code = cli("triggers", "delete", "gh"); code != 1 {
		t.Errorf("deleting a deleted trigger: exit %d, want 1", code)
	}
	if out, _ = cli("triggers", "list"); strings.Contains(out, "gh") {
		t.Errorf("gh still listed:\n%s", out)
	}

	out, code = cli("notifiers", "add", "ops", "http://127.0.0.1:1/hook", "--kinds", "task_failed,flow_failed", "--secret", "x")
	if code != 0 || out != "ops: task_failed,flow_failed alerts to http://127.0.0.1:1/hook\n" {
		t.Errorf("notifiers add: exit %d\n%s", code, out)
	}
	if out, code = cli("notifiers", "add", "chat", "https://chat.example.com/hook", "--format", "slack"); code != 0 {
		t.Errorf("notifiers add slack: exit %d\n%s", code, out)
	}
	out, code = cli("notifiers", "list")
	if code != 0 || !strings.Contains(out, "chat") || !strings.Contains(out, "slack") || !strings.Contains(out, "task_failed,flow_failed") {
		t.Errorf("notifiers list: exit %d\n%s", code, out)
	}
	if out, code = cli("notifiers", "delete", "chat"); code != 0 || out != "deleted chat\n" {
		t.Errorf("notifiers delete: exit %d\n%s", code, out)
	}
	if out, _ = cli("notifiers", "list"); strings.Contains(out, "chat") {
		t.Errorf("chat still listed:\n%s", out)
	}

	// Bad input: the server's 422 exits 1, a bad command line 2.
	for _, bad := range [][]string{
		{"triggers", "add", "x", "--type", "nope"},
		{"triggers", "add", "x", "--type", "exec", "--filter", "type =="},
		{"triggers", "add", "x", "--type", "exec", "--on-type", "exec", "--on-result", "maybe"},
		{"notifiers", "add", "x", "ftp://example.com"},
		{"notifiers", "add", "x", "http://example.com", "--kinds", "everything"},
	} {
		if _, code := cli(bad...); code != 1 {
			t.Errorf("loom %v: exit %d, want 1", bad, code)
		}
	}
	for _, bad := range [][]string{
		{"triggers", "add", "x"},
		{"triggers", "add", "x", "--type", "exec", "--map", "nokey"},
		{"triggers", "add", "x", "--type", "exec", "--on-result", "error"},
		{"triggers", "delete"},
		{"notifiers", "add", "x"},
	} {
		if _, code := cli(bad...); code != 2 {
			t.Errorf("loom %v: exit %d, want 2", bad, code)
		}
	}
}

// TestSchedulesCLI adds a schedule, changes it with PATCH, pauses,
// resumes, triggers, backfills and deletes it.
func TestSchedulesCLI(t *testing.T) {
	url, _ := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"), "--allow-exec")
	cli := func(args ...string) (string, int) {
		t.Helper()
		return runMain(t, append([]string{"--server", url}, args...)...)
	}
	out, code := cli("schedules", "add", "yearly", "0 0 1 1 *", "--tz", "America/New_York", "--type", "exec",
		"--input", `{"command":["true"]}`, "--catch-up", "skip_missed")
	if code != 0 || !strings.Contains(out, "0 0 1 1 * (America/New_York)") {
		t.Fatalf("schedules add: exit %d\n%s", code, out)
	}
	var patched struct {
		Cron   string
		Jitter string
		Next   []string
	}
	api(t, "PATCH", url+"/api/v1/schedules/yearly", map[string]any{"cron": "@daily", "jitter": "5s"}, &patched)
	if patched.Cron != "@daily" || patched.Jitter != "5s" || len(patched.Next) != 5 {
		t.Errorf("PATCH: %+v", patched)
	}
	if out, code = cli("schedules", "pause", "yearly"); code != 0 || !strings.Contains(out, "state:    paused") {
		t.Errorf("pause: exit %d\n%s", code, out)
	}
	if out, code = cli("schedules", "list"); code != 0 || !strings.Contains(out, "paused") {
		t.Errorf("list after pause: exit %d\n%s", code, out)
	}
	if out, code = cli("schedules", "resume", "yearly"); code != 0 || strings.Contains(out, "paused") || !strings.Contains(out, "next:") {
		t.Errorf("resume: exit %d\n%s", code, out)
	}
	if out, code = cli("schedules", "trigger", "yearly"); code != 0 || !strings.Contains(out, " exec ") {
		t.Errorf("trigger: exit %d\n%s", code, out)
	}
	// Backfill (the schedule is @daily since the PATCH): four days, then
	// the same four again, which creates nothing.
	for _, want := range []string{"done: 4 created, 0 existed", "done: 0 created, 4 existed"} {
		out, code = cli("schedules", "backfill", "yearly", "--from", "2026-01-01", "--to", "2026-01-05", "--rate", "100", "--wait")
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("backfill: exit %d, want %q:\n%s", code, want, out)
		}
	}
	// A backfill over more than the limit is refused; a slow one is
	// cancelled.
	if out, code = cli("schedules", "backfill", "yearly", "--from", "1990-01-01", "--to", "2026-01-05"); code != 1 {
		t.Errorf("backfill over the limit: exit %d\n%s", code, out)
	}
	resp, err := http.Post(url+"/api/v1/backfills", "application/json",
		strings.NewReader(`{"schedule":"yearly","from":"2026-01-01T00:00:00Z","to":"2026-01-05T00:00:00Z","rate":1000000000}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "rate 1000000000 is over the limit of 1000 runs a second") {
		t.Errorf("huge rate: %d %s", resp.StatusCode, body)
	}
	out, code = cli("schedules", "backfill", "yearly", "--from", "2020-01-01", "--to", "2026-01-01", "--rate", "1")
	if code != 0 || !strings.Contains(out, " running: ") {
		t.Fatalf("slow backfill: exit %d\n%s", code, out)
	}
	id, _, _ := strings.Cut(out, " ")
	if out, code = cli("schedules", "backfill-cancel", id); code != 0 || !strings.HasPrefix(out, id+" cancelled: ") {
		t.Errorf("backfill-cancel: exit %d\n%s", code, out)
	}
	var b struct{ Status string }
	api(t, "GET", url+"/api/v1/backfills/"+id, nil, &b)
	if b.Status != "cancelled" {
		t.Errorf("GET after cancel: status %q", b.Status)
	}
	if _, code = cli("schedules", "pause", "nope"); code != 1 {
		t.Errorf("pausing a missing schedule: exit %d, want 1", code)
	}
	if out, code = cli("schedules", "delete", "yearly"); code != 0 || out != "deleted yearly\n" {
		t.Errorf("delete: exit %d\n%s", code, out)
	}
}
