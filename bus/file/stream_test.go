package file_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/bus/bustest"
	"github.com/loomhq/loom/bus/file"
)

// TestStreamConformance runs the suite on a Stream whose Writer feeds its
// own Reader, so that what it publishes comes back to its consumers.
func TestStreamConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bus.Bus {
		r, w := io.Pipe()
		s, err := file.NewStream(file.StreamConfig{Reader: r, Writer: w, Name: "loopback"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close(); _ = w.Close() })
		return s
	})
}

func TestStreamConfigValidate(t *testing.T) {
	for _, cfg := range []file.StreamConfig{
		{},
		{Reader: strings.NewReader(""), AckWait: -1},
		{Reader: strings.NewReader(""), Queue: "bad queue"},
	} {
		if _, err := file.NewStream(cfg); err == nil {
			t.Errorf("NewStream(%+v) accepted", cfg)
		}
	}
	s, err := file.NewStream(file.StreamConfig{Writer: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Consume(t.Context(), "q", bus.ConsumeOptions{}); err == nil {
		t.Error("Consume on a Stream without a Reader succeeded")
	}
}

// TestStreamWorkerInAnyLanguage plays a seed 003 worker that knows nothing
// of loom: it reads task lines on its stdin, copies each object, adds
// result, msg, started and ended, and writes it to its stdout. The engine
// side drives it through a Stream on its pipes.
func TestStreamWorkerInAnyLanguage(t *testing.T) {
	workerIn, toWorker := io.Pipe()
	fromWorker, workerOut := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the worker process
		defer wg.Done()
		defer workerOut.Close()
		in := bufio.NewScanner(workerIn)
		for in.Scan() {
			var task map[string]any
			if err := json.Unmarshal(in.Bytes(), &task); err != nil {
				t.Errorf("worker got %q: %v", in.Text(), err)
				return
			}
			task["result"], task["msg"] = "complete", "completed successfully!"
			task["started"], task["ended"] = "2001-01-01T06:00:00.0Z", "2001-01-01T20:00:00.0Z"
			out, _ := json.Marshal(task)
			if _, err := workerOut.Write(append(out, '\n')); err != nil {
				return
			}
		}
	}()

	engine, err := file.NewStream(file.StreamConfig{Reader: fromWorker, Writer: toWorker, Name: "worker stdout"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done, err := engine.ConsumeDone(ctx, bus.ConsumeOptions{Group: "engine"})
	if err != nil {
		t.Fatal(err)
	}
	sent := []bus.Message{
		{ID: "a", Type: "task-type", Attempt: 1, Info: "information for the worker", Input: []byte(`{"x":1}`), Lease: "L1"},
		{ID: "b", Type: "task-type", Attempt: 3, Lease: "L2"},
	}
	if err := engine.Publish(ctx, "seed", sent...); err != nil {
		t.Fatal(err)
	}
	for i := range sent {
		ds, err := done.Receive(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		d := ds[0]
		if d.ID != sent[i].ID || d.Attempt != sent[i].Attempt || d.Lease != sent[i].Lease || d.Queue != "seed" ||
			d.Result != bus.ResultComplete || d.Started == nil || d.Ended == nil || string(d.Input) != string(sent[i].Input) {
			t.Errorf("done message %d: %+v", i, d.Message)
		}
		_ = d.Ack(ctx)
	}
	// Closing the worker's stdin ends it; its stdout ends with it, and the
	// engine's consumer sees io.EOF.
	toWorker.Close()
	wg.Wait()
	if _, err := done.Receive(ctx, 1); !errors.Is(err, io.EOF) {
		t.Errorf("Receive after the worker exited: %v, want io.EOF", err)
	}
	if err := engine.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestStreamStdinWorker is the other end: a Go worker reading its tasks on
// stdin (here a string) and finishing at EOF, with a bad line reported and
// skipped.
func TestStreamStdinWorker(t *testing.T) {
	stdin := strings.NewReader(
		`{"type":"task-type","info":"first","created":"2001-01-01T05:01:01.0Z"}` + "\n" +
			`{"type":` + "\n" +
			`{"type":"task-type","queue":"bad queue"}` + "\n" +
			`{"type":"task-type","info":"second","queue":"other"}` + "\n" +
			`{"type":"task-type","info":"third"}`) // no final newline
	var (
		mu   sync.Mutex
		errs []error
	)
	var stdout strings.Builder
	out := bufio.NewWriter(&stdout)
	s, err := file.NewStream(file.StreamConfig{
		Reader: stdin, Writer: out, Name: "stdin",
		OnError: func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := s.Consume(ctx, bus.DefaultQueue, bus.ConsumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var infos []string
	for {
		ds, err := c.Receive(ctx, 10)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			infos = append(infos, d.Info)
			m := d.Message
			m.Result = bus.ResultComplete
			if err := s.PublishDone(ctx, m); err != nil {
				t.Fatal(err)
			}
			_ = d.Ack(ctx)
		}
	}
	if strings.Join(infos, ",") != "first,third" {
		t.Errorf("default queue got %v, want first,third", infos)
	}
	// Flushed after each publish, without the caller's help.
	if got := strings.Count(stdout.String(), `"result":"complete"`); got != 2 {
		t.Errorf("stdout has %d done lines:\n%s", got, stdout.String())
	}
	other, err := s.Consume(ctx, "other", bus.ConsumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ds, err := other.Receive(ctx, 10); err != nil || ds[0].Info != "second" {
		t.Errorf("queue other: %v %v", ds, err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 2 {
		t.Fatalf("OnError got %v, want 2 errors", errs)
	}
	var malformed *bus.MalformedError
	if !errors.As(errs[0], &malformed) || malformed.Line != 2 || !strings.Contains(errs[0].Error(), "stdin:2") {
		t.Errorf("first error %v, want a malformed line at stdin:2", errs[0])
	}
	if !errors.Is(errs[1], bus.ErrInvalidName) || !strings.Contains(errs[1].Error(), "stdin:3") {
		t.Errorf("second error %v, want an invalid queue at stdin:3", errs[1])
	}
}
