package nats_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/bus/bustest"
	busnats "github.com/loomhq/loom/bus/nats"
)

func TestMain(m *testing.M) {
	closeAnchor := anchor()
	code := m.Run()
	closeAnchor()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// anchor creates a stream that lives through the run. nats-server 2.9
// removes an account's stream directory with its last stream, racing with
// streams being created meanwhile; while this one lives, the directory
// stays.
func anchor() (remove func()) {
	url := os.Getenv("LOOM_TEST_NATS_URL")
	if url == "" {
		return func() {}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := busnats.New(ctx, busnats.Config{URL: url, Stream: fmt.Sprintf("LOOMTEST_ANCHOR_%d", os.Getpid()),
		Subject: fmt.Sprintf("loomtest.anchor%d", os.Getpid()), TrimInterval: -1})
	if err != nil {
		return func() {}
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.DeleteStream(ctx)
		_ = b.Close()
	}
}

var seq atomic.Uint64

// serverURL is the NATS server the tests use; they skip without one.
func serverURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("LOOM_TEST_NATS_URL")
	if url == "" {
		t.Skip("LOOM_TEST_NATS_URL is not set")
	}
	return url
}

// newBus returns a bus on a stream of its own, deleted when t ends.
func newBus(t testing.TB, cfg busnats.Config) *busnats.Bus {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = serverURL(t)
	}
	n := fmt.Sprintf("%d_%d", os.Getpid(), seq.Add(1))
	if cfg.Stream == "" {
		cfg.Stream = "LOOMTEST_" + n
		cfg.Subject = "loomtest." + n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := busnats.New(ctx, cfg)
	if err != nil {
		t.Fatalf("nats.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// A bus of its own, since the test may have closed b.
		d, err := busnats.New(ctx, busnats.Config{URL: cfg.URL, Stream: cfg.Stream, Subject: cfg.Subject, TrimInterval: -1})
		if err == nil {
			if err := d.DeleteStream(ctx); err != nil {
				t.Errorf("delete stream: %v", err)
			}
			_ = d.Close()
		}
		_ = b.Close()
	})
	return b
}

func TestConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bus.Bus { return newBus(t, busnats.Config{TrimInterval: 100 * time.Millisecond}) })
}

// TestTrim checks that messages every group acknowledged are removed, and
// that those a group has not read stay.
func TestTrim(t *testing.T) {
	t.Parallel()
	n := fmt.Sprintf("%d_trim%d", os.Getpid(), seq.Add(1))
	cfg := busnats.Config{Stream: "LOOMTEST_" + n, Subject: "loomtest." + n, TrimInterval: 20 * time.Millisecond}
	b := newBus(t, cfg)
	nc, err := natsgo.Connect(serverURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	bustest.Trim(t, b, func(ctx context.Context) (int64, error) {
		st, err := js.Stream(ctx, cfg.Stream)
		if err != nil {
			return 0, err
		}
		return int64(st.CachedInfo().State.Msgs), nil
	})
}

// TestLateGroupStartsAtEnd checks that a group joining a subject other
// groups already read starts with what is published after it joined, while
// the first group got what was there before it.
func TestLateGroupStartsAtEnd(t *testing.T) {
	t.Parallel()
	bustest.LateGroupStartsAtEnd(t, newBus(t, busnats.Config{}))
}

// TestTooLarge checks that a message the server would refuse fails at
// once, as invalid, instead of being retried.
func TestTooLarge(t *testing.T) {
	t.Parallel()
	b := newBus(t, busnats.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	big := bus.Message{ID: "big", Type: "t", Input: []byte(`"` + strings.Repeat("x", 2<<20) + `"`)}
	if err := b.Publish(ctx, "q", big); !errors.Is(err, bus.ErrInvalidMessage) {
		t.Fatalf("Publish of a 2 MB message: %v, want ErrInvalidMessage", err)
	}
}
