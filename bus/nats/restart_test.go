package nats_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loomhq/loom/bus/bustest"
	busnats "github.com/loomhq/loom/bus/nats"
)

const natsServerBin = "/usr/sbin/nats-server"

// TestServerRestart publishes and consumes through a restart of the NATS
// server: the client reconnects, publishes that failed meanwhile are sent
// again, and every message published arrives.
func TestServerRestart(t *testing.T) {
	serverURL(t) // NATS tests run where there is a server
	if _, err := os.Stat(natsServerBin); err != nil {
		t.Skipf("no %s: %v", natsServerBin, err)
	}
	if testing.Short() {
		t.Skip("restarts a server")
	}
	port := bustest.FreePort(t)
	srv := &bustest.Server{Bin: natsServerBin, Port: port, Stop: os.Interrupt,
		Args: []string{"-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-sd", t.TempDir()}}
	srv.Start(t)
	t.Cleanup(srv.Shutdown)
	b := newBus(t, busnats.Config{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), Stream: "RESTART", Subject: "restart",
		AckWait: 2 * time.Second, PullWait: 500 * time.Millisecond})

	bustest.Restart(t, b, func() { srv.Shutdown(); srv.Start(t) }, bustest.RestartOptions{
		Diagnose: func(t *testing.T) {
			nc, _ := natsgo.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port))
			js, _ := jetstream.New(nc)
			st, serr := js.Stream(context.Background(), "RESTART")
			if serr == nil {
				t.Logf("stream: %+v", st.CachedInfo().State)
				l := st.ListConsumers(context.Background())
				for ci := range l.Info() {
					t.Logf("consumer %s: delivered %+v ackfloor %+v pending %d ackpending %d waiting %d", ci.Name, ci.Delivered, ci.AckFloor, ci.NumPending, ci.NumAckPending, ci.NumWaiting)
				}
			}
			nc.Close()
		},
	})
}
