package redis_test

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/loomhq/loom/bus/bustest"
	busredis "github.com/loomhq/loom/bus/redis"
)

const redisServerBin = "/usr/bin/redis-server"

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
	port := bustest.FreePort(t)
	// The server appends every write to its log.
	srv := &bustest.Server{Bin: redisServerBin, Port: port, Stop: syscall.SIGTERM,
		Args: []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", t.TempDir(), "--appendonly", "yes", "--save", ""}}
	srv.Start(t)
	t.Cleanup(srv.Shutdown)
	b := newBus(t, busredis.Config{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), AckWait: 2 * time.Second})

	bustest.Restart(t, b, func() { srv.Shutdown(); srv.Start(t) }, bustest.RestartOptions{Timeout: time.Minute, RetryPublish: true})
}
