// Package bustest is the conformance suite every bus.Bus implementation
// passes: call Run from the backend's tests, against the real server where
// there is one. The network buses also call LateGroupStartsAtEnd, Trim
// and Restart, for what they promise beyond the suite.
//
// The suite measures real time: redelivery after an AckWait is what a bus
// does in real time, so those subtests use AckWaits of a few hundred
// milliseconds and poll with generous deadlines rather than sleep for fixed
// times. The few checks that something does NOT happen wait a small
// multiple of the AckWait.
package bustest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loomhq/loom/bus"
)

// Timing of the suite. ackWait is short so that redelivery tests are quick;
// patience bounds every wait for something that must happen, long enough
// for a loaded CI machine running with -race.
const (
	ackWait  = 200 * time.Millisecond
	patience = 10 * time.Second
	quiet    = 3 * ackWait // how long "nothing arrives" is watched
)

// Run runs the conformance suite. newBus must return a new bus, sharing no
// queues with any other bus it returned; the suite closes it. Subtests run
// in parallel.
func Run(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, b bus.Bus)
	}{
		{"RoundTrip", testRoundTrip},
		{"Order", testOrder},
		{"PublishBeforeConsume", testPublishBeforeConsume},
		{"QueueIsolation", testQueueIsolation},
		{"GroupsEachGetAll", testGroupsEachGetAll},
		{"CompetingConsumers", testCompetingConsumers},
		{"RedeliverAfterAckWait", testRedeliverAfterAckWait},
		{"RedeliverToOtherConsumer", testRedeliverToOtherConsumer},
		{"NackRedelivers", testNackRedelivers},
		{"AckPreventsRedelivery", testAckPreventsRedelivery},
		{"AckAll", testAckAll},
		{"SettleOnce", testSettleOnce},
		{"StaleAck", testStaleAck},
		{"StaleSettle", testStaleSettle},
		{"InProgressExtends", testInProgressExtends},
		{"BatchReceive", testBatchReceive},
		{"ReceiveHonoursContext", testReceiveHonoursContext},
		{"DoneRoundTrip", testDoneRoundTrip},
		{"InvalidInput", testInvalidInput},
		{"ConsumerClose", testConsumerClose},
		{"Close", testClose},
		{"ManyMessages", testManyMessages},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBus(t)
			t.Cleanup(func() { _ = b.Close() })
			tc.fn(t, b)
		})
	}
}

var queueSeq atomic.Uint64

// queueName returns a queue name unique to this run of t, readable in a
// broker's listing.
func queueName(t *testing.T, suffix string) string {
	seq := queueSeq.Add(1)
	test := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	name := fmt.Sprintf("bustest.%s.%d.%s", test, seq, suffix)
	if len(name) > bus.MaxNameLen {
		name = fmt.Sprintf("bustest.%d.%s", seq, suffix)
	}
	if err := bus.ValidateQueue(name); err != nil {
		t.Fatalf("bustest made a bad queue name: %v", err)
	}
	return name
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), patience*3)
	t.Cleanup(cancel)
	return ctx
}

// readyMessage is a ready task with every ready field set.
func readyMessage(i int) bus.Message {
	return bus.Message{
		ID:       fmt.Sprintf("task-%05d", i),
		Type:     "send-email",
		Attempt:  2,
		Priority: 7,
		Info:     "information for the worker",
		Input:    json.RawMessage(fmt.Sprintf(`{"to":"a@example.com","n":%d}`, i)),
		Created:  time.Date(2001, 1, 1, 5, 1, 1, 123456789, time.UTC),
		Lease:    "lease-token-42",
	}
}

// doneMessage is readyMessage(i) as a worker sends it back.
func doneMessage(i int) bus.Message {
	m := readyMessage(i)
	m.Queue = "some-queue"
	started := time.Date(2001, 1, 1, 6, 0, 0, 0, time.UTC)
	ended := time.Date(2001, 1, 1, 20, 0, 0, 5000, time.UTC)
	m.Result = bus.ResultError
	m.Msg = "error processing task!"
	m.Output = json.RawMessage(`{"partial":[1,2,3]}`)
	m.Started, m.Ended = &started, &ended
	return m
}

func messages(from, n int) []bus.Message {
	msgs := make([]bus.Message, n)
	for i := range msgs {
		msgs[i] = readyMessage(from + i)
	}
	return msgs
}

// sameMessage fails t unless got and want encode to the same JSON: the
// task object is what a bus must carry intact.
func sameMessage(t *testing.T, got, want bus.Message) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("encode received message: %v", err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatalf("encode sent message: %v", err)
	}
	if string(g) != string(w) {
		t.Errorf("message changed on the bus:\n got %s\nwant %s", g, w)
	}
}

func consume(t *testing.T, b bus.Bus, queue string, opts bus.ConsumeOptions) bus.Consumer {
	t.Helper()
	c, err := b.Consume(testContext(t), queue, opts)
	if err != nil {
		t.Fatalf("Consume(%q, %+v): %v", queue, opts, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func publish(t *testing.T, b bus.Bus, queue string, msgs ...bus.Message) {
	t.Helper()
	if err := b.Publish(testContext(t), queue, msgs...); err != nil {
		t.Fatalf("Publish(%q, %d messages): %v", queue, len(msgs), err)
	}
}

// receive returns the first non-empty batch c delivers within patience.
func receive(t *testing.T, c bus.Consumer, max int) []bus.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	ds, err := c.Receive(ctx, max)
	if err != nil {
		t.Fatalf("Receive(max %d): %v", max, err)
	}
	if len(ds) == 0 || len(ds) > max {
		t.Fatalf("Receive(max %d) returned %d deliveries", max, len(ds))
	}
	return ds
}

// receiveN collects n deliveries from c, acking each when ack is set.
func receiveN(t *testing.T, c bus.Consumer, n int, ack bool) []bus.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	var all []bus.Delivery
	for len(all) < n {
		ds, err := c.Receive(ctx, n-len(all))
		if err != nil {
			t.Fatalf("received %d of %d messages, then: %v", len(all), n, err)
		}
		for _, d := range ds {
			if ack {
				if err := d.Ack(ctx); err != nil {
					t.Fatalf("Ack %s: %v", d.ID, err)
				}
			}
		}
		all = append(all, ds...)
	}
	return all
}

// expectNothing fails t if c delivers anything within quiet.
func expectNothing(t *testing.T, c bus.Consumer) {
	t.Helper()
	if err := nothingWithin(c, quiet); err != nil {
		t.Fatal(err)
	}
}

// nothingWithin reports an error if c delivers anything within d.
func nothingWithin(c bus.Consumer, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ds, err := c.Receive(ctx, 100)
	if len(ds) > 0 {
		return fmt.Errorf("expected no delivery, got %d, first %s (redelivered %v)", len(ds), ds[0].ID, ds[0].Redelivered)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("receive on a quiet queue: got %v, want context.DeadlineExceeded", err)
	}
	return nil
}

func ids(ds []bus.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func testRoundTrip(t *testing.T, b bus.Bus) {
	q := queueName(t, "q")
	c := consume(t, b, q, bus.ConsumeOptions{})
	sent := readyMessage(1)
	publish(t, b, q, sent)
	ds := receive(t, c, 10)
	if len(ds) != 1 {
		t.Fatalf("got %d deliveries, want 1", len(ds))
	}
	want := sent
	want.Queue = q
	sameMessage(t, ds[0].Message, want)
	if ds[0].Redelivered {
		t.Errorf("first delivery marked redelivered")
	}
	if err := ds[0].Ack(testContext(t)); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}

func testOrder(t *testing.T, b bus.Bus) {
	q := queueName(t, "q")
	c := consume(t, b, q, bus.ConsumeOptions{})
	publish(t, b, q, messages(0, 20)...)
	publish(t, b, q, messages(20, 20)...)
	got := ids(receiveN(t, c, 40, true))
	for i, id := range got {
		if want := readyMessage(i).ID; id != want {
			t.Fatalf("delivery %d is %s, want %s; a single consumer receives in publish order: %v", i, id, want, got)
		}
	}
}

func testPublishBeforeConsume(t *testing.T, b bus.Bus) {
	q := queueName(t, "q")
	publish(t, b, q, messages(0, 5)...)
	c := consume(t, b, q, bus.ConsumeOptions{})
	got := receiveN(t, c, 5, true)
	for i, d := range got {
		want := readyMessage(i)
		want.Queue = q
		sameMessage(t, d.Message, want)
	}
}

func testQueueIsolation(t *testing.T, b bus.Bus) {
	qa, qb := queueName(t, "a"), queueName(t, "b")
	ca := consume(t, b, qa, bus.ConsumeOptions{})
	cb := consume(t, b, qb, bus.ConsumeOptions{})
	publish(t, b, qa, messages(0, 3)...)
	publish(t, b, qb, messages(100, 2)...)
	for _, d := range receiveN(t, ca, 3, true) {
		if d.Queue != qa || !strings.HasPrefix(d.ID, "task-0000") {
			t.Errorf("consumer of %s got %s from queue %s", qa, d.ID, d.Queue)
		}
	}
	for _, d := range receiveN(t, cb, 2, true) {
		if d.Queue != qb || !strings.HasPrefix(d.ID, "task-0010") {
			t.Errorf("consumer of %s got %s from queue %s", qb, d.ID, d.Queue)
		}
	}
	expectNothing(t, ca)
}

func testGroupsEachGetAll(t *testing.T, b bus.Bus) {
	q := queueName(t, "q")
	c1 := consume(t, b, q, bus.ConsumeOptions{Group: "one"})
	c2 := consume(t, b, q, bus.ConsumeOptions{Group: "two"})
	publish(t, b, q, messages(0, 10)...)
	for _, c := range []bus.Consumer{c1, c2} {
		seen := map[string]bool{}
		for _, d := range receiveN(t, c, 10, true) {
			seen[d.ID] = true
		}
		if len(seen) != 10 {
			t.Errorf("a group got %d distinct messages, want all 10", len(seen))
		}
	}
}

// drain runs consumers concurrently until total messages are received,
// acknowledging each, and returns how often each id arrived.
func drain(t *testing.T, cs []bus.Consumer, total, max int) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience*3)
	defer cancel()
	// Acks get their own context: cancelling ctx when all has arrived must
	// not fail an ack in flight on a backend that honours it.
	ackCtx, cancelAcks := context.WithTimeout(context.Background(), patience*3)
	defer cancelAcks()
	var (
		mu      sync.Mutex
		counts  = map[string]int{}
		got     int
		perCons = make([]int, len(cs))
		wg      sync.WaitGroup
		errs    = make(chan error, len(cs))
	)
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ds, err := c.Receive(ctx, max)
				if err != nil {
					if ctx.Err() == nil {
						errs <- fmt.Errorf("consumer %d: %w", i, err)
					}
					return
				}
				for _, d := range ds {
					if err := d.Ack(ackCtx); err != nil {
						errs <- fmt.Errorf("consumer %d: ack %s: %w", i, d.ID, err)
						return
					}
				}
				mu.Lock()
				for _, d := range ds {
					counts[d.ID]++
				}
				got += len(ds)
				perCons[i] += len(ds)
				done := got >= total
				mu.Unlock()
				if done {
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got < total {
		t.Fatalf("received %d of %d messages before the deadline", got, total)
	}
	t.Logf("messages per consumer: %v", perCons)
	return counts
}

func checkExactlyOnce(t *testing.T, counts map[string]int, total int) {
	t.Helper()
	for i := 0; i < total; i++ {
		id := readyMessage(i).ID
		if n := counts[id]; n != 1 {
			t.Errorf("%s delivered %d times, want exactly once", id, n)
		}
	}
	if len(counts) != total {
		t.Errorf("received %d distinct ids, want %d", len(counts), total)
	}
}

// publishConcurrently publishes total messages from publishers goroutines,
// in batches of batch, in the background; the error, if any, arrives on the
// channel returned, which is closed when all are published.
func publishConcurrently(b bus.Bus, q string, total, publishers, batch int) <-chan error {
	out := make(chan error, publishers)
	go func() {
		defer close(out)
		publishAll(b, q, total, publishers, batch, out)
	}()
	return out
}

func publishAll(b bus.Bus, q string, total, publishers, batch int, errs chan<- error) {
	var wg sync.WaitGroup
	per := total / publishers
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for from := p * per; from < (p+1)*per; from += batch {
				n := min(batch, (p+1)*per-from)
				if err := b.Publish(context.Background(), q, messages(from, n)...); err != nil {
					errs <- fmt.Errorf("publish: %w", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func testCompetingConsumers(t *testing.T, b bus.Bus) {
	const total, consumers = 1000, 4
	q := queueName(t, "q")
	cs := make([]bus.Consumer, consumers)
	for i := range cs {
		cs[i] = consume(t, b, q, bus.ConsumeOptions{Name: fmt.Sprintf("c%d", i)})
	}
	published := publishConcurrently(b, q, total, 4, 25)
	counts := drain(t, cs, total, 10)
	for err := range published {
		t.Error(err)
	}
	checkExactlyOnce(t, counts, total)
}

func testRedeliverAfterAckWait(t *testing.T, b bus.Bus) {
	q := queueName(t, "q")
	c := consume(t, b, q, bus.ConsumeOptions{AckWait: ackWait})
	publish(t, b, q, readyMessage(1))
	first := receive(t, c, 1)[0]
	start := time.Now()
	again := receive(t, c, 1)[0]
	elapsed := time.Since(start)
	if again.ID != first.ID {
		t.Fatalf("got %s, want %s redelivered", again.ID, first.ID)
	}
	if !again.Redelivered {
		t.Errorf("redelivery not marked Redelivered")
	}
	if elapsed < ackWait*3/4 {
		t.Errorf("redelivered after %s, before the AckWait of %s", elapsed, ackWait)
	}
	want := readyMessage(1)
	want.Queue = q
	sameMessage(t, again.Message, want)
	if err := again.Ack(testContext(t)); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	expectNothing(t, c)
}

func testRedeliverToOtherConsumer(t *testing.T, b bus.Bus) {
	q := queueName(t, "q")
	c1 := consume(t, b, q, bus.ConsumeOptions{Name: "first", AckWait: ackWait})
	publish(t, b, q, readyMessage(1))
	d := receive(t, c1, 1)[0]
	if err := c1.Close(); err != nil {
		t.Fatalf("Close consumer: %v", err)
	}
	c2 := consume(t, b, q, bus.ConsumeOptions{Name: "second", AckWait: ackWait})
	again := receive(t, c2, 1)[0]
	if again.ID != d.ID {
		t.Fatalf("second consumer got %s, want %s", again.ID, d.ID)
	}
	if err := again.Ack(testContext(t)); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}

func testNackRedelivers(t *testing.T, b bus.Bus) {
	q := queueName(t, "q")
	c := consume(t, b, q, bus.ConsumeOptions{})
	publish(t, b, q, readyMessage(1))
	ctx := testContext(t)

	d := receive(t, c, 1)[0]
	if err := d.Nack(ctx, 0); err != nil {
		t.Fatalf("Nack(0): %v", err)
	}
	d = receive(t, c, 1)[0]
	if d.ID != readyMessage(1).ID || !d.Redelivered {
		t.Fatalf("after Nack(0) got %s (redelivered %v), want %s redelivered", d.ID, d.Redelivered, readyMessage(1).ID)
	}

	const delay = 300 * time.Millisecond
	if err := d.Nack(ctx, delay); err != nil {
		t.Fatalf("Nack(%s): %v", delay, err)
	}
	start := time.Now()
	d = receive(t, c, 1)[0]
	if elapsed := time.Since(start); elapsed < delay*3/4 {
		t.Errorf("redelivered %s after Nack(%s)", elapsed, delay)
	}
	if d.ID != readyMessage(1).ID {
		t.Fatalf("after Nack(%s) got %s", delay, d.ID)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	expectNothing(t, c)
}

func testAckPreventsRedelivery(t *testing.T, b bus.Bus) {
	q := queueName(t, "q")
	c := consume(t, b, q, bus.ConsumeOptions{AckWait: ackWait})
	publish(t, b, q, messages(0, 3)...)
	receiveN(t, c, 3, true)
	expectNothing(t, c)
}

func testAckAll(t *testing.T, b bus.Bus) {
	q := queueName(t, "q")
	c := consume(t, b, q, bus.ConsumeOptions{AckWait: ackWait})
	publish(t, b, q, messages(0, 100)...)
	ds := receiveN(t, c, 100, false)
	if err := bus.AckAll(testContext(t), ds); err != nil {
		t.Fatalf("AckAll: %v", err)
	}
	if err := ds[0].Ack(testContext(t)); err != nil {
		t.Errorf("Ack after AckAll: %v, want nil", err)
	}
	expectNothing(t, c)
}

func testSettleOnce(t *testing.T, b bus.Bus) {
	q := queueName(t, "q")
	c := consume(t, b, q, bus.ConsumeOptions{AckWait: ackWait})
	publish(t, b, q, readyMessage(1))
	ctx := testContext(t)
	d := receive(t, c, 1)[0]
	if err := d.Ack(ctx); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if err := d.Ack(ctx); err != nil {
		t.Errorf("second Ack: %v, want nil", err)
	}
	if err := d.Nack(ctx, 0); err != nil {
		t.Errorf("Nack after Ack: %v, want nil", err)
	}
	expectNothing(t, c)
}

func testStaleAck(t *testing.T, b bus.Bus) {
	q := queueName(t, "q")
	c := consume(t, b, q, bus.ConsumeOptions{AckWait: ackWait})
	publish(t, b, q, readyMessage(1))
	ctx := testContext(t)
	stale := receive(t, c, 1)[0]
	current := receive(t, c, 1)[0] // after the AckWait
	if current.ID != stale.ID {
		t.Fatalf("got %s, want %s redelivered", current.ID, stale.ID)
	}
	if err := stale.Ack(ctx); err != nil {
		t.Fatalf("Ack of the earlier delivery: %v", err)
	}
	if err := current.Ack(ctx); err != nil {
		t.Fatalf("Ack of the later delivery: %v", err)
	}
	expectNothing(t, c)
}

// testStaleSettle checks that Nack and InProgress on a delivery whose AckWait
// ran out, its message delivered again since, leave the newer delivery
// alone: no immediate redelivery follows the stale Nack.
func testStaleSettle(t *testing.T, b bus.Bus) {
	const ackWait = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := b.Consume(ctx, "q", bus.ConsumeOptions{AckWait: ackWait})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := b.Publish(ctx, "q", bus.Message{ID: "a", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	receive := func(ctx context.Context) (bus.Delivery, error) {
		ds, err := c.Receive(ctx, 1)
		if err != nil {
			return bus.Delivery{}, err
		}
		return ds[0], nil
	}
	stale, err := receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	current, err := receive(ctx) // after the AckWait
	if err != nil || !current.Redelivered {
		t.Fatalf("no redelivery after the AckWait: %v", err)
	}
	if err := stale.InProgress(ctx); err != nil {
		t.Errorf("stale InProgress: %v", err)
	}
	if err := stale.Nack(ctx, 0); err != nil {
		t.Errorf("stale Nack: %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, ackWait*2/5)
	defer cancelShort()
	if d, err := receive(short); err == nil {
		t.Errorf("a stale Nack redelivered %s at once", d.ID)
	}
	if err := current.Ack(ctx); err != nil {
		t.Fatal(err)
	}
}

// testInProgressExtends holds a delivery for several AckWaits while calling
// InProgress: neither its consumer nor another of the group receives it
// again meanwhile, nor after it is acknowledged.
func testInProgressExtends(t *testing.T, b bus.Bus) {
	q := queueName(t, "q")
	c1 := consume(t, b, q, bus.ConsumeOptions{Name: "holder", AckWait: ackWait})
	c2 := consume(t, b, q, bus.ConsumeOptions{Name: "other", AckWait: ackWait})
	publish(t, b, q, readyMessage(1))
	ctx := testContext(t)
	d := receive(t, c1, 1)[0]
	if d.AckWait != ackWait {
		t.Errorf("delivery's AckWait is %s, want the consumer's %s", d.AckWait, ackWait)
	}
	if err := d.InProgress(ctx); err != nil {
		t.Fatalf("InProgress: %v", err)
	}
	// Keep extending, every quarter AckWait, while both consumers watch
	// for a redelivery for several AckWaits.
	stop := make(chan struct{})
	extended := make(chan error, 1)
	go func() {
		tick := time.NewTicker(ackWait / 4)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				extended <- nil
				return
			case <-tick.C:
				if err := d.InProgress(ctx); err != nil {
					extended <- err
					return
				}
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, c := range []bus.Consumer{c1, c2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = nothingWithin(c, quiet)
		}()
	}
	wg.Wait()
	close(stop)
	for _, err := range errs {
		if err != nil {
			t.Errorf("while the delivery was extended: %v", err)
		}
	}
	if err := <-extended; err != nil {
		t.Fatalf("InProgress while held: %v", err)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatalf("Ack after extending: %v", err)
	}
	if err := d.InProgress(ctx); err != nil {
		t.Errorf("InProgress after Ack: %v, want nil", err)
	}
	expectNothing(t, c1)
}

func testBatchReceive(t *testing.T, b bus.Bus) {
	const total, batch = 10, 4
	q := queueName(t, "q")
	c := consume(t, b, q, bus.ConsumeOptions{})
	publish(t, b, q, messages(0, total)...)
	ctx := testContext(t)
	got, biggest := 0, 0
	for got < total {
		ds := receive(t, c, batch)
		for _, d := range ds {
			if err := d.Ack(ctx); err != nil {
				t.Fatalf("Ack: %v", err)
			}
		}
		got += len(ds)
		biggest = max(biggest, len(ds))
	}
	if got != total {
		t.Errorf("received %d, want %d", got, total)
	}
	if biggest < 2 {
		t.Errorf("every Receive returned one message although %d were waiting", total)
	}
}

func testReceiveHonoursContext(t *testing.T, b bus.Bus) {
	q := queueName(t, "q")
	c := consume(t, b, q, bus.ConsumeOptions{})

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Receive(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Receive past deadline: got %v, want context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > patience/2 {
		t.Errorf("Receive returned %s after its deadline", elapsed)
	}

	ctx, cancel = context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Receive(ctx, 1)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Receive block; the result holds either way
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Receive after cancel: got %v, want context.Canceled", err)
		}
	case <-time.After(patience):
		t.Fatal("Receive did not return after its context was cancelled")
	}

	publish(t, b, q, readyMessage(1))
	if ds, err := c.Receive(ctx, 1); err == nil {
		t.Errorf("Receive with a cancelled context returned %d deliveries and no error", len(ds))
	}
	receiveN(t, c, 1, true)
}

func testDoneRoundTrip(t *testing.T, b bus.Bus) {
	ctx := testContext(t)
	c, err := b.ConsumeDone(ctx, bus.ConsumeOptions{Group: "engine"})
	if err != nil {
		t.Fatalf("ConsumeDone: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	sent := []bus.Message{doneMessage(1), doneMessage(2)}
	sent[1].Result, sent[1].Msg, sent[1].Output = bus.ResultComplete, "completed successfully!", nil
	if err := b.PublishDone(ctx, sent...); err != nil {
		t.Fatalf("PublishDone: %v", err)
	}
	got := receiveN(t, c, 2, true)
	for i := range sent {
		sameMessage(t, got[i].Message, sent[i])
	}
}

func testInvalidInput(t *testing.T, b bus.Bus) {
	ctx := testContext(t)
	q := queueName(t, "q")
	for _, bad := range []string{"", "has space", "a/b", ".lead", "trail.", "a..b", "star*", "gt>", bus.DoneQueue, strings.Repeat("x", bus.MaxNameLen+1)} {
		if err := b.Publish(ctx, bad, readyMessage(1)); !errors.Is(err, bus.ErrInvalidName) {
			t.Errorf("Publish to %q: got %v, want ErrInvalidName", bad, err)
		}
		if _, err := b.Consume(ctx, bad, bus.ConsumeOptions{}); !errors.Is(err, bus.ErrInvalidName) {
			t.Errorf("Consume %q: got %v, want ErrInvalidName", bad, err)
		}
	}
	for _, bad := range []string{"a.b", "has space"} {
		if _, err := b.Consume(ctx, q, bus.ConsumeOptions{Group: bad}); !errors.Is(err, bus.ErrInvalidName) {
			t.Errorf("Consume as group %q: got %v, want ErrInvalidName", bad, err)
		}
	}
	withResult := readyMessage(1)
	withResult.Result = bus.ResultComplete
	if err := b.Publish(ctx, q, readyMessage(0), withResult); !errors.Is(err, bus.ErrInvalidMessage) {
		t.Errorf("Publish of a message with a result: got %v, want ErrInvalidMessage", err)
	}
	badInput := readyMessage(2)
	badInput.Input = json.RawMessage(`{"unterminated"`)
	if err := b.Publish(ctx, q, badInput); !errors.Is(err, bus.ErrInvalidMessage) {
		t.Errorf("Publish of invalid JSON input: got %v, want ErrInvalidMessage", err)
	}
	for _, result := range []string{"", "completed", "ERROR"} {
		m := doneMessage(1)
		m.Result = result
		if err := b.PublishDone(ctx, m); !errors.Is(err, bus.ErrInvalidMessage) {
			t.Errorf("PublishDone with result %q: got %v, want ErrInvalidMessage", result, err)
		}
	}
	// A rejected batch is rejected whole.
	c := consume(t, b, q, bus.ConsumeOptions{})
	expectNothing(t, c)
}

func testConsumerClose(t *testing.T, b bus.Bus) {
	q := queueName(t, "q")
	c1 := consume(t, b, q, bus.ConsumeOptions{Name: "closing"})
	c2 := consume(t, b, q, bus.ConsumeOptions{Name: "staying"})
	errc := make(chan error, 1)
	go func() {
		_, err := c1.Receive(context.Background(), 1)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Receive block; the result holds either way
	if err := c1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, bus.ErrClosed) {
			t.Errorf("blocked Receive on a closed consumer: got %v, want ErrClosed", err)
		}
	case <-time.After(patience):
		t.Fatal("blocked Receive did not return when its consumer was closed")
	}
	if _, err := c1.Receive(testContext(t), 1); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Receive on a closed consumer: got %v, want ErrClosed", err)
	}
	if err := c1.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	publish(t, b, q, messages(0, 3)...)
	receiveN(t, c2, 3, true)
	if err := c2.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The group outlives its consumers.
	publish(t, b, q, messages(3, 2)...)
	c3 := consume(t, b, q, bus.ConsumeOptions{Name: "later"})
	for i, d := range receiveN(t, c3, 2, true) {
		if want := readyMessage(3 + i).ID; d.ID != want {
			t.Errorf("later consumer got %s, want %s", d.ID, want)
		}
	}
}

func testClose(t *testing.T, b bus.Bus) {
	ctx := testContext(t)
	q := queueName(t, "q")
	c := consume(t, b, q, bus.ConsumeOptions{})
	publish(t, b, q, readyMessage(1))
	d := receive(t, c, 1)[0]

	blocked := consume(t, b, queueName(t, "empty"), bus.ConsumeOptions{})
	errc := make(chan error, 1)
	go func() {
		_, err := blocked.Receive(context.Background(), 1)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Receive block; the result holds either way

	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, bus.ErrClosed) {
			t.Errorf("blocked Receive when the bus closed: got %v, want ErrClosed", err)
		}
	case <-time.After(patience):
		t.Fatal("blocked Receive did not return when the bus was closed")
	}
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, bus.ErrClosed) {
			t.Errorf("%s after Close: got %v, want ErrClosed", what, err)
		}
	}
	check("Publish", b.Publish(ctx, q, readyMessage(2)))
	check("PublishDone", b.PublishDone(ctx, doneMessage(2)))
	_, err := b.Consume(ctx, q, bus.ConsumeOptions{})
	check("Consume", err)
	_, err = b.ConsumeDone(ctx, bus.ConsumeOptions{})
	check("ConsumeDone", err)
	_, err = c.Receive(ctx, 1)
	check("Receive", err)
	check("InProgress", d.InProgress(ctx))
	check("Ack", d.Ack(ctx))
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func testManyMessages(t *testing.T, b bus.Bus) {
	const total, consumers = 10_000, 4
	q := queueName(t, "q")
	cs := make([]bus.Consumer, consumers)
	for i := range cs {
		cs[i] = consume(t, b, q, bus.ConsumeOptions{Name: fmt.Sprintf("c%d", i)})
	}
	published := publishConcurrently(b, q, total, 2, 100)
	counts := drain(t, cs, total, 64)
	for err := range published {
		t.Error(err)
	}
	checkExactlyOnce(t, counts, total)
	expectNothing(t, cs[0])
}

// BenchPublishReceive measures bs with the engine's pattern: a publisher
// sending batches of 100 while a consumer receives batches of up to 100
// and acknowledges each message. It reports msgs/s.
func BenchPublishReceive(b *testing.B, bs bus.Bus) {
	const batch = 100
	ctx := context.Background()
	c, err := bs.Consume(ctx, "bench", bus.ConsumeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]bus.Message, batch)
	for i := range msgs {
		msgs[i] = bus.Message{ID: fmt.Sprintf("task-%d", i), Type: "bench", Attempt: 1, Input: []byte(`{"n":1}`)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		for sent := 0; sent < b.N; sent += batch {
			if err := bs.Publish(ctx, "bench", msgs[:min(batch, b.N-sent)]...); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for got := 0; got < b.N; {
		ds, err := c.Receive(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range ds {
			if err := d.Ack(ctx); err != nil {
				b.Fatal(err)
			}
		}
		got += len(ds)
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
