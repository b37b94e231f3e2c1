package file_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/bus/bustest"
	"github.com/loomhq/loom/bus/file"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// setup opens a bus on dir (a new temporary directory when empty), closed
// when the test ends.
func setup(t *testing.T, dir string) *file.Bus {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	b, err := file.New(file.Config{Dir: dir, PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatalf("file.New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func task(i int) bus.Message {
	return bus.Message{ID: fmt.Sprintf("t%d", i), Type: "job", Attempt: 1, Input: []byte(fmt.Sprintf(`{"n":%d}`, i))}
}

func consume(t *testing.T, b bus.Bus, queue string, opts bus.ConsumeOptions) bus.Consumer {
	t.Helper()
	c, err := b.Consume(testContext(t), queue, opts)
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// receiveIDs receives until n messages arrived, acking none, and returns
// their ids.
func receiveIDs(t *testing.T, c bus.Consumer, n int) ([]string, []bus.Delivery) {
	t.Helper()
	ctx := testContext(t)
	var ids []string
	var all []bus.Delivery
	for len(all) < n {
		ds, err := c.Receive(ctx, n-len(all))
		if err != nil {
			t.Fatalf("after %v: Receive: %v", ids, err)
		}
		for _, d := range ds {
			ids = append(ids, d.ID)
		}
		all = append(all, ds...)
	}
	return ids, all
}

func expectNothing(t *testing.T, c bus.Consumer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if ds, err := c.Receive(ctx, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("expected nothing, got %d deliveries, %v", len(ds), err)
	}
}

func TestConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bus.Bus { return setup(t, "") })
}

func TestConfigValidate(t *testing.T) {
	for _, cfg := range []file.Config{{}, {Dir: t.TempDir(), PollInterval: -1}, {Dir: t.TempDir(), AckWait: -1}} {
		if _, err := file.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestFileLayout(t *testing.T) {
	dir := t.TempDir()
	b := setup(t, dir)
	ctx := testContext(t)
	if err := b.Publish(ctx, "email", task(1), task(2)); err != nil {
		t.Fatal(err)
	}
	done := task(1)
	done.Result = bus.ResultComplete
	if err := b.PublishDone(ctx, done); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "email.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"t1","type":"job","queue":"email","attempt":1,"input":{"n":1}}` + "\n" +
		`{"id":"t2","type":"job","queue":"email","attempt":1,"input":{"n":2}}` + "\n"
	if string(data) != want {
		t.Errorf("email.jsonl:\n%s\nwant\n%s", data, want)
	}
	data, err = os.ReadFile(filepath.Join(dir, "done.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"result":"complete"`) {
		t.Errorf("done.jsonl: %s", data)
	}

	c, err := b.ConsumeDone(ctx, bus.ConsumeOptions{Group: "engine"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, ds := receiveIDs(t, c, 1)
	if err := ds[0].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	off, err := os.ReadFile(filepath.Join(dir, ".offsets", "engine.done"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(off)), fmt.Sprintf("%020d", len(data)); got != want {
		t.Errorf("committed offset %s, want %s", got, want)
	}
}

func TestRestartResumesFromCommittedOffset(t *testing.T) {
	dir := t.TempDir()
	ctx := testContext(t)
	b1 := setup(t, dir)
	if err := b1.Publish(ctx, "q", task(1), task(2), task(3), task(4), task(5)); err != nil {
		t.Fatal(err)
	}
	c1 := consume(t, b1, "q", bus.ConsumeOptions{})
	ids, ds := receiveIDs(t, c1, 5)
	if strings.Join(ids, ",") != "t1,t2,t3,t4,t5" {
		t.Fatalf("got %v", ids)
	}
	// t1 and t2 acknowledged, t3 not, t4 acknowledged: the committed offset
	// stops at t3.
	for _, i := range []int{0, 1, 3} {
		if err := ds[i].Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := setup(t, dir)
	c2 := consume(t, b2, "q", bus.ConsumeOptions{})
	ids, ds = receiveIDs(t, c2, 3)
	if strings.Join(ids, ",") != "t3,t4,t5" {
		t.Fatalf("after restart got %v, want t3,t4,t5 (t4 again: at least once)", ids)
	}
	for _, d := range ds {
		if d.Redelivered {
			t.Errorf("%s marked redelivered: a restarted bus cannot know", d.ID)
		}
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := b2.Close(); err != nil {
		t.Fatal(err)
	}

	// Everything acknowledged: a third start delivers only what is new,
	// and a group that never consumed reads from the start.
	b3 := setup(t, dir)
	if err := b3.Publish(ctx, "q", task(6)); err != nil {
		t.Fatal(err)
	}
	c3 := consume(t, b3, "q", bus.ConsumeOptions{})
	if ids, _ := receiveIDs(t, c3, 1); ids[0] != "t6" {
		t.Fatalf("third start got %v, want t6", ids)
	}
	other := consume(t, b3, "q", bus.ConsumeOptions{Group: "audit"})
	if ids, _ := receiveIDs(t, other, 6); strings.Join(ids, ",") != "t1,t2,t3,t4,t5,t6" {
		t.Fatalf("new group got %v", ids)
	}
}

func TestMalformedLineIsSkippedAndNamed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.jsonl")
	lines := `{"id":"t1","type":"job"}` + "\n" +
		`{"id":"t2","type":` + "\n" + // cut short
		"\n" + // blank lines are skipped silently
		`{"id":"t3","type":"job"}` + "\n"
	if err := os.WriteFile(path, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	b := setup(t, dir)
	c := consume(t, b, "q", bus.ConsumeOptions{})
	ids, errs := collect(t, c, 2, 1)
	if strings.Join(ids, ",") != "t1,t3" {
		t.Errorf("got %v, want t1,t3", ids)
	}
	var malformed *bus.MalformedError
	if !errors.As(errs[0], &malformed) || !errors.Is(errs[0], bus.ErrMalformed) {
		t.Fatalf("got %v, want a *bus.MalformedError", errs[0])
	}
	if malformed.Source != path || malformed.Line != 2 || malformed.Offset != int64(len(`{"id":"t1","type":"job"}`)+1) {
		t.Errorf("malformed line reported at %s:%d offset %d, want %s:2", malformed.Source, malformed.Line, malformed.Offset, path)
	}
	if msg := malformed.Error(); !strings.Contains(msg, path+":2") {
		t.Errorf("error %q does not name file and line", msg)
	}
	expectNothing(t, c)

	// The bad line is behind the committed offset: a restart repeats
	// neither it nor its error, and line numbers stay right.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("not json\n" + `{"id":"t4","type":"job"}` + "\n")
	f.Close()
	b2 := setup(t, dir)
	c2 := consume(t, b2, "q", bus.ConsumeOptions{})
	ids, errs = collect(t, c2, 1, 1)
	if strings.Join(ids, ",") != "t4" {
		t.Errorf("after restart got %v, want t4", ids)
	}
	if !errors.As(errs[0], &malformed) || malformed.Line != 5 {
		t.Errorf("after restart got error %v, want one for line 5", errs[0])
	}
	expectNothing(t, c2)
}

// collect receives and acknowledges until it has n messages and m errors,
// returning the ids and the errors.
func collect(t *testing.T, c bus.Consumer, n, m int) ([]string, []error) {
	t.Helper()
	ctx := testContext(t)
	var ids []string
	var errs []error
	for len(ids) < n || len(errs) < m {
		ds, err := c.Receive(ctx, 10)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("got %v and errors %v, then %v", ids, errs, err)
			}
			errs = append(errs, err)
			continue
		}
		for _, d := range ds {
			ids = append(ids, d.ID)
			if err := d.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ids, errs
}

func TestPartialLineWaitsForItsNewline(t *testing.T) {
	dir := t.TempDir()
	b := setup(t, dir)
	c := consume(t, b, "q", bus.ConsumeOptions{})
	f, err := os.OpenFile(filepath.Join(dir, "q.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(`{"id":"t1","ty`); err != nil {
		t.Fatal(err)
	}
	expectNothing(t, c)
	if _, err := f.WriteString(`pe":"job"}` + "\n"); err != nil {
		t.Fatal(err)
	}
	ids, _ := receiveIDs(t, c, 1)
	if ids[0] != "t1" {
		t.Fatalf("got %v", ids)
	}
}

// TestOtherProcessAppends stands in for another process appending to the
// queue file: nothing wakes the consumer but its polling.
func TestOtherProcessAppends(t *testing.T) {
	dir := t.TempDir()
	b := setup(t, dir)
	c := consume(t, b, "q", bus.ConsumeOptions{})
	done := make(chan []string, 1)
	go func() {
		ids, _ := receiveIDs(t, c, 2)
		done <- ids
	}()
	time.Sleep(20 * time.Millisecond) // let Receive wait; the result holds either way
	line := `{"id":"t1","type":"job"}` + "\n" + `{"id":"t2","type":"job"}` + "\n"
	f, err := os.OpenFile(filepath.Join(dir, "q.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(line)
	f.Close()
	select {
	case ids := <-done:
		if strings.Join(ids, ",") != "t1,t2" {
			t.Fatalf("got %v", ids)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("appended lines never delivered")
	}
}

// TestTwoBusesOneDirectory: a publisher and a consumer with their own Bus
// on one directory, as an engine and a worker in one process might be.
func TestTwoBusesOneDirectory(t *testing.T) {
	dir := t.TempDir()
	b, err := file.New(file.Config{Dir: dir, PollInterval: time.Hour}) // no polling: only the wake-up can deliver
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pub := setup(t, dir)
	c := consume(t, b, "q", bus.ConsumeOptions{})
	ctx := testContext(t)
	got := make(chan error, 1)
	go func() {
		_, err := c.Receive(ctx, 1)
		got <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Receive wait; the result holds either way
	if err := pub.Publish(ctx, "q", task(1)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a publish through another Bus did not wake the consumer")
	}
}

func TestLongLine(t *testing.T) {
	b := setup(t, "")
	ctx := testContext(t)
	m := task(1)
	m.Info = strings.Repeat("x", 300<<10) // several read chunks
	if err := b.Publish(ctx, "q", m, task(2)); err != nil {
		t.Fatal(err)
	}
	c := consume(t, b, "q", bus.ConsumeOptions{})
	_, ds := receiveIDs(t, c, 2)
	if ds[0].Info != m.Info || ds[1].ID != "t2" {
		t.Fatalf("long line came back as %d bytes of info, then %s", len(ds[0].Info), ds[1].ID)
	}
}

func TestCorruptOffsetsFile(t *testing.T) {
	dir := t.TempDir()
	b := setup(t, dir)
	ctx := testContext(t)
	if err := b.Publish(ctx, "q", task(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	offsets := filepath.Join(dir, ".offsets", "workers.q")
	for _, content := range []string{"garbage", "99999", "3"} {
		if err := os.WriteFile(offsets, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		b := setup(t, dir)
		if _, err := b.Consume(ctx, "q", bus.ConsumeOptions{}); err == nil || !strings.Contains(err.Error(), offsets) && !strings.Contains(err.Error(), "q.jsonl") {
			t.Errorf("offsets %q: got %v, want an error naming the files", content, err)
		}
	}
	// A hand-written offset at a line start is accepted.
	if err := os.WriteFile(offsets, []byte(" 0 \n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b = setup(t, dir)
	c := consume(t, b, "q", bus.ConsumeOptions{})
	_, ds := receiveIDs(t, c, 1)
	if err := ds[0].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(offsets)
	if len(data) != 21 {
		t.Errorf("offsets file %q not rewritten in its own form", data)
	}
}

// BenchmarkFilePublishReceive is BenchmarkMemoryPublishReceive on files:
// batches of 100 appended, received and acknowledged (each acknowledgement
// commits an offset).
func BenchmarkFilePublishReceive(b *testing.B) {
	bs, err := file.New(file.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close()
	bustest.BenchPublishReceive(b, bs)
}

// TestSecondBusOfAGroupIsRefused: a group consumed through one Bus cannot
// be consumed through another on the same directory (as a second `loom
// worker` would), so no line is delivered to both; other groups, and the
// same group once the first Bus is closed, are served.
func TestSecondBusOfAGroupIsRefused(t *testing.T) {
	dir := t.TempDir()
	ctx := testContext(t)
	first := setup(t, dir)
	if err := first.Publish(ctx, "q", task(1)); err != nil {
		t.Fatal(err)
	}
	c := consume(t, first, "q", bus.ConsumeOptions{})
	if _, err := first.ConsumeDone(ctx, bus.ConsumeOptions{Group: "engine"}); err != nil {
		t.Fatal(err)
	}
	second := setup(t, dir)
	for name, consume := range map[string]func() error{
		"queue": func() error { _, err := second.Consume(ctx, "q", bus.ConsumeOptions{}); return err },
		"done":  func() error { _, err := second.ConsumeDone(ctx, bus.ConsumeOptions{Group: "engine"}); return err },
	} {
		err := consume()
		if !errors.Is(err, file.ErrGroupLocked) {
			t.Fatalf("%s: second Bus consuming the same group: got %v, want ErrGroupLocked", name, err)
		}
		if !strings.Contains(err.Error(), filepath.Join(dir, ".offsets")) {
			t.Errorf("%s: error does not name the offsets file: %v", name, err)
		}
	}
	// Another group of the same queue is another reader.
	audit := consume(t, second, "q", bus.ConsumeOptions{Group: "audit"})
	if ids, _ := receiveIDs(t, audit, 1); ids[0] != "t1" {
		t.Fatalf("audit group got %v", ids)
	}
	if ids, _ := receiveIDs(t, c, 1); ids[0] != "t1" {
		t.Fatalf("first consumer got %v", ids)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// The lock went with the first Bus; t1 was never acknowledged, so the
	// group delivers it again, now through the second Bus only.
	again := consume(t, second, "q", bus.ConsumeOptions{})
	if ids, _ := receiveIDs(t, again, 1); ids[0] != "t1" {
		t.Fatalf("after the first Bus closed got %v", ids)
	}
}
