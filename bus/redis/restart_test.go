package redis_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/loomhq/loom/bus/bustest"
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

	bustest.Restart(t, b, func() { srv.stop(); srv.start() }, bustest.RestartOptions{Timeout: time.Minute, RetryPublish: true})
}
