package memory_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/bus/bustest"
	"github.com/loomhq/loom/bus/memory"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func setup(t testing.TB) *memory.Bus {
	t.Helper()
	b, err := memory.New(memory.Config{})
	if err != nil {
		t.Fatalf("memory.New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bus.Bus { return setup(t) })
}

func TestConfigValidate(t *testing.T) {
	if _, err := memory.New(memory.Config{AckWait: -time.Second}); err == nil {
		t.Fatal("New accepted a negative AckWait")
	}
}

func TestConfigAckWaitIsConsumerDefault(t *testing.T) {
	b, err := memory.New(memory.Config{AckWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := b.Consume(ctx, "q", bus.ConsumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "q", bus.Message{ID: "a", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Receive(ctx, 1); err != nil {
		t.Fatal(err)
	}
	ds, err := c.Receive(ctx, 1)
	if err != nil {
		t.Fatalf("no redelivery after the configured AckWait: %v", err)
	}
	if !ds[0].Redelivered {
		t.Error("second delivery not marked redelivered")
	}
}

// TestIdleUsesNoGoroutines checks the promise that waiting costs nothing:
// consumers blocked in Receive and messages awaiting their AckWait add no
// goroutines of the bus's own.
func TestIdleUsesNoGoroutines(t *testing.T) {
	b := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := b.Consume(ctx, "q", bus.ConsumeOptions{AckWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]bus.Message, 1000)
	for i := range msgs {
		msgs[i] = bus.Message{ID: fmt.Sprint(i), Type: "t"}
	}
	if err := b.Publish(ctx, "q", msgs...); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	ds, err := c.Receive(ctx, len(msgs))
	if err != nil || len(ds) != len(msgs) {
		t.Fatalf("Receive: %d deliveries, %v", len(ds), err)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d unacknowledged deliveries started %d goroutines", len(ds), after-before)
	}
}

func TestReceiveLatency(t *testing.T) {
	b := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := b.Consume(ctx, "q", bus.ConsumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 200
	var worst time.Duration
	for i := 0; i < rounds; i++ {
		got := make(chan time.Time, 1)
		go func() {
			ds, err := c.Receive(ctx, 1)
			if err == nil {
				_ = ds[0].Ack(ctx)
			}
			got <- time.Now()
		}()
		time.Sleep(100 * time.Microsecond) // usually enough for Receive to block
		sent := time.Now()
		if err := b.Publish(ctx, "q", bus.Message{ID: fmt.Sprint(i), Type: "t"}); err != nil {
			t.Fatal(err)
		}
		worst = max(worst, (<-got).Sub(sent))
	}
	t.Logf("worst publish-to-receive latency over %d rounds: %s", rounds, worst)
}

func TestAckAfterConsumerCloseStillWorks(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	c, err := b.Consume(ctx, "q", bus.ConsumeOptions{AckWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "q", bus.Message{ID: "a", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	ds, err := c.Receive(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if err := ds[0].Ack(ctx); err != nil {
		t.Fatalf("Ack after consumer Close: %v", err)
	}
	c2, err := b.Consume(ctx, "q", bus.ConsumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if ds, err := c2.Receive(tctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acknowledged message came back: %v %v", ds, err)
	}
}

// BenchmarkMemoryPublishReceive measures throughput with the engine's
// pattern: a publisher sending batches of 100 while a consumer receives
// batches of up to 100 and acknowledges each message.
func BenchmarkMemoryPublishReceive(b *testing.B) {
	bustest.BenchPublishReceive(b, setup(b))
}

func Example() {
	ctx := context.Background()
	b, err := memory.New(memory.Config{})
	if err != nil {
		panic(err)
	}
	defer b.Close()

	// A worker joins the "email" queue...
	worker, err := b.Consume(ctx, "email", bus.ConsumeOptions{})
	if err != nil {
		panic(err)
	}
	// ...the engine publishes a ready task...
	task := bus.Message{ID: "0195b6c0", Type: "send-email", Attempt: 1, Input: []byte(`{"to":"ada@example.com"}`)}
	if err := b.Publish(ctx, "email", task); err != nil {
		panic(err)
	}
	// ...the worker does it and sends it back done...
	ds, err := worker.Receive(ctx, 10)
	if err != nil {
		panic(err)
	}
	for _, d := range ds {
		done := d.Message
		done.Result, done.Msg = bus.ResultComplete, "sent"
		if err := b.PublishDone(ctx, done); err != nil {
			panic(err)
		}
		_ = d.Ack(ctx)
	}
	// ...and the engine records the result.
	engine, err := b.ConsumeDone(ctx, bus.ConsumeOptions{Group: "engine"})
	if err != nil {
		panic(err)
	}
	ds, err = engine.Receive(ctx, 10)
	if err != nil {
		panic(err)
	}
	fmt.Println(ds[0].ID, ds[0].Queue, ds[0].Attempt, ds[0].Result, ds[0].Msg)
	_ = ds[0].Ack(ctx)
	// Output: 0195b6c0 email 1 complete sent
}
