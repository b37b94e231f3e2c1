package bustest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Server is a server process of a test's own, such as a nats-server a
// Restart test stops and starts again.
type Server struct {
	// Bin is the server's executable and Args its arguments.
	Bin  string
	Args []string
	// Port is the port on 127.0.0.1 the server listens on; Start waits
	// for it to take connections.
	Port int
	// Stop is the signal the server shuts down gracefully on.
	Stop os.Signal

	cmd *exec.Cmd
}

// FreePort returns a TCP port on 127.0.0.1 that was free when asked.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start runs the server and waits until it takes connections.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	name := filepath.Base(s.Bin)
	s.cmd = exec.Command(s.Bin, s.Args...)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %d: %v", name, s.Port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Shutdown stops the server gracefully and waits for it to exit; it does
// nothing if the server is not running.
func (s *Server) Shutdown() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(s.Stop)
	_ = s.cmd.Wait()
	s.cmd = nil
}
