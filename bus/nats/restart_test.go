package nats_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loomhq/loom/bus/bustest"
	busnats "github.com/loomhq/loom/bus/nats"
)

const natsServerBin = "/usr/sbin/nats-server"

// natsServer is a nats-server of the test's own.
type natsServer struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs the server and waits until it takes connections.
func (s *natsServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(natsServerBin, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(s.port), "-sd", s.dir)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start nats-server: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("nats-server did not listen on %d: %v", s.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop shuts the server down gracefully and waits for it to exit.
func (s *natsServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	_ = s.cmd.Wait()
	s.cmd = nil
}

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
	srv := &natsServer{t: t, port: freePort(t), dir: t.TempDir()}
	srv.start()
	t.Cleanup(srv.stop)
	b := newBus(t, busnats.Config{URL: fmt.Sprintf("nats://127.0.0.1:%d", srv.port), Stream: "RESTART", Subject: "restart",
		AckWait: 2 * time.Second, PullWait: 500 * time.Millisecond})

	bustest.Restart(t, b, func() { srv.stop(); srv.start() }, bustest.RestartOptions{
		Diagnose: func(t *testing.T) {
			nc, _ := natsgo.Connect(fmt.Sprintf("nats://127.0.0.1:%d", srv.port))
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
