package redis_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/loomhq/loom/bus"
	busredis "github.com/loomhq/loom/bus/redis"
)

const redisServerBin = "/usr/bin/redis-server"

// redisServer is a redis-server of the test's own, appending every write
// to its log.
type redisServer struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(redisServerBin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--appendonly", "yes", "--save", "")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server did not listen on %d: %v", s.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop shuts the server down gracefully and waits for it to exit.
func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// TestServerRestart publishes and consumes through a restart of the Redis
// server: the client reconnects, and every message published arrives.
func TestServerRestart(t *testing.T) {
	serverURL(t) // Redis tests run where there is a server
	if _, err := os.Stat(redisServerBin); err != nil {
		t.Skipf("no %s: %v", redisServerBin, err)
	}
	if testing.Short() {
		t.Skip("restarts a server")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	srv := &redisServer{t: t, port: port, dir: t.TempDir()}
	srv.start()
	t.Cleanup(srv.stop)
	b := newBus(t, busredis.Config{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), AckWait: 2 * time.Second})

	const total, batch = 2000, 20
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
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
			// A batch that failed is published again, as the engine does:
			// some of it may then arrive twice, none of it never.
			for b.Publish(ctx, "work", msgs...) != nil {
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
			time.Sleep(time.Millisecond)
		}
		pubErr <- nil
	}()

	var (
		mu   sync.Mutex
		seen = map[string]int{}
	)
	recvDone := make(chan error, 1)
	go func() {
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
				time.Sleep(50 * time.Millisecond) // the server is away: try again
				continue
			}
			for _, d := range ds {
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
	srv.stop()
	srv.start()

	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	if err := <-recvDone; err != nil {
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
