package bustest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loomhq/loom/bus"
)

// RestartOptions says how Restart treats a bus whose server is away.
type RestartOptions struct {
	// Timeout bounds the whole run; zero means 30 seconds.
	Timeout time.Duration
	// RetryPublish publishes a failed batch again, as the engine does, for a
	// bus whose Publish fails while its server is away; some of the batch may
	// then arrive twice, none of it never. Without it a failed Publish fails
	// the test: the bus itself must send it again.
	RetryPublish bool
	// Diagnose, when set, is called if not every message arrived, to log
	// what the server holds.
	Diagnose func(t *testing.T)
}

// Restart publishes 2000 messages to queue "work" of b in batches while a
// consumer receives and acknowledges them, calls restart to stop and start
// b's server once half are published, and checks that every message
// arrives. A message delivered twice is allowed (an Ack lost in the
// restart), one never delivered fails the test.
func Restart(t *testing.T, b bus.Bus, restart func(), opts RestartOptions) {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	const total, batch = 2000, 20
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	c, err := b.Consume(ctx, "work", bus.ConsumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var retries, recvErrs atomic.Int64
	halfway := make(chan struct{})
	pubErr := make(chan error, 1)
	go func() {
		for i := 0; i < total; i += batch {
			msgs := make([]bus.Message, batch)
			for j := range msgs {
				msgs[j] = bus.Message{ID: fmt.Sprintf("task-%05d", i+j), Type: "t", Attempt: 1}
			}
			for {
				err := b.Publish(ctx, "work", msgs...)
				if err == nil {
					break
				}
				if !opts.RetryPublish {
					pubErr <- fmt.Errorf("publish batch at %d: %w", i, err)
					return
				}
				if ctx.Err() != nil {
					pubErr <- fmt.Errorf("publish batch at %d: %w", i, ctx.Err())
					return
				}
				retries.Add(1)
				time.Sleep(50 * time.Millisecond)
			}
			if i == total/2 {
				close(halfway)
			}
			time.Sleep(time.Millisecond) // spread the publishing over the restart
		}
		pubErr <- nil
	}()

	var (
		mu   sync.Mutex
		seen = map[string]int{}
	)
	recvDone := make(chan error, 1)
	go func() {
		var lastErr error
		for {
			mu.Lock()
			n := len(seen)
			mu.Unlock()
			if n == total {
				recvDone <- nil
				return
			}
			ds, err := c.Receive(ctx, 100)
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, bus.ErrClosed) {
					recvDone <- fmt.Errorf("received %d of %d: %w", n, total, err)
					return
				}
				recvErrs.Add(1)
				if lastErr == nil || err.Error() != lastErr.Error() {
					t.Logf("receive: %v", err)
					lastErr = err
				}
				time.Sleep(50 * time.Millisecond) // the server is away: try again
				continue
			}
			for _, d := range ds {
				// Delivered is what counts: an Ack whose confirmation was
				// lost in the restart may or may not have taken effect,
				// and if it did not the message comes back.
				mu.Lock()
				seen[d.ID]++
				mu.Unlock()
				_ = d.Ack(ctx)
			}
		}
	}()

	select {
	case <-halfway:
	case err := <-pubErr:
		t.Fatalf("publishing ended before the restart: %v", err)
	}
	restart()

	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	if err := <-recvDone; err != nil {
		if opts.Diagnose != nil {
			opts.Diagnose(t)
		}
		t.Fatal(err)
	}
	dups := 0
	for i := 0; i < total; i++ {
		n := seen[fmt.Sprintf("task-%05d", i)]
		if n == 0 {
			t.Errorf("task-%05d lost", i)
		}
		dups += n - 1
	}
	t.Logf("%d messages through a server restart, %d delivered twice; %d publishes and %d receives failed meanwhile",
		total, dups, retries.Load(), recvErrs.Load())
}
