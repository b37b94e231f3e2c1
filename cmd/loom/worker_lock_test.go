package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecondFileBusWorkerRefused: a second `loom worker` on the queue of
// a file bus that another worker serves exits with an error that says so,
// instead of running every task a second time.
func TestSecondFileBusWorkerRefused(t *testing.T) {
	t.Parallel()
	busDir := t.TempDir()
	inProcessWorker(t, "--bus", busDir, "--queue", "ext")
	waitConsuming(t, busDir, "ext")

	_, stderr, code := runMainEnv(t, nil, "worker", "--bus", busDir, "--queue", "ext")
	if code == 0 {
		t.Fatal("a second worker on the same file bus queue started")
	}
	for _, want := range []string{`consume "ext"`, "in use by another process", "workers.ext"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the error does not say %q:\n%s", want, stderr)
		}
	}
	// Another queue of the same directory is free.
	inProcessWorker(t, "--bus", busDir, "--queue", "other")
	waitConsuming(t, busDir, "other")
}

// waitConsuming waits until a worker consumes queue of the file bus in
// busDir: it appends a task of a type no worker knows and waits for the
// worker's answer in done.jsonl.
func waitConsuming(t *testing.T, busDir, queue string) {
	t.Helper()
	probe := "probe-" + queue
	f, err := os.OpenFile(filepath.Join(busDir, queue+".jsonl"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(`{"id":"` + probe + `","type":"no-such-type","attempt":1}` + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		done, _ := os.ReadFile(filepath.Join(busDir, "done.jsonl"))
		if strings.Contains(string(done), `"id":"`+probe+`"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no worker answered on queue %s within 20s", queue)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
