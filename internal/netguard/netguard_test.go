package netguard_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/loomhq/loom/internal/netguard"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr    string
		refused bool
	}{
		{"127.0.0.1", true},
		{"127.255.0.9", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"::ffff:10.0.0.1", true},
		{"169.254.169.254", true},
		{"fe80::1", true},
		{"10.1.2.3", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"192.168.1.1", true},
		{"100.64.0.1", true},
		{"100.127.255.254", true},
		{"0.0.0.0", true},
		{"::", true},
		{"fc00::1", true},
		{"fd12:3456::1", true},
		{"224.0.0.1", true},
		{"ff02::1", true},
		{"8.8.8.8", false},
		{"172.32.0.1", false},
		{"100.128.0.1", false},
		{"2606:4700::1111", false},
		{"::ffff:8.8.8.8", false},
	} {
		err := netguard.Check(netip.MustParseAddr(tc.addr))
		if got := err != nil; got != tc.refused {
			t.Errorf("Check(%s) = %v, want refused %v", tc.addr, err, tc.refused)
		}
		if err != nil && (!errors.Is(err, netguard.ErrRefused) || !strings.Contains(err.Error(), "--allow-private-net")) {
			t.Errorf("Check(%s) = %v, want ErrRefused naming the flag", tc.addr, err)
		}
	}
}

// TestClientRefusesAtConnect dials for real: the names and forms that reach
// a loopback server are refused by the guarded client and reach it with
// allowPrivate.
func TestClientRefusesAtConnect(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "inside")
	}))
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port()
	p := func(host string) string { return "http://" + host + ":" + strconv.Itoa(int(port)) + "/" }
	guarded, open := netguard.Client(false), netguard.Client(true)
	for _, u := range []string{p("127.0.0.1"), p("localhost"), p("[::ffff:127.0.0.1]"), "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1:1/", "http://[::1]:1/"} {
		resp, err := guarded.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("guarded GET %s: answered %s, want refused", u, resp.Status)
			continue
		}
		var uerr *url.Error
		if !errors.Is(err, netguard.ErrRefused) || !errors.As(err, &uerr) || !strings.Contains(err.Error(), "--allow-private-net") {
			t.Errorf("guarded GET %s: %v, want ErrRefused naming the flag", u, err)
		}
	}
	for _, u := range []string{p("127.0.0.1"), p("localhost")} {
		resp, err := open.Get(u)
		if err != nil {
			t.Fatalf("open GET %s: %v", u, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "inside" {
			t.Errorf("open GET %s = %q", u, body)
		}
	}
	guarded.CloseIdleConnections()
	open.CloseIdleConnections()
}

// TestTransportUsesNoProxy: a proxy would connect on the guarded
// transport's behalf, past the check, so a guarded transport has none.
func TestTransportUsesNoProxy(t *testing.T) {
	t.Parallel()
	if netguard.Transport(false).Proxy != nil {
		t.Error("the guarded transport uses a proxy")
	}
	if netguard.Transport(true).Proxy == nil {
		t.Error("the open transport ignores the environment's proxy")
	}
}

// TestRedirectToLoopbackRefused: a redirect's connection is checked like
// the first. The first hop, to a name standing for a public server, is
// let through to a local test server, which redirects to its own loopback
// address.
func TestRedirectToLoopbackRefused(t *testing.T) {
	t.Parallel()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host == "public.test" {
			http.Redirect(w, r, srv.URL+"/inside", http.StatusFound)
			return
		}
		_, _ = io.WriteString(w, "inside")
	}))
	t.Cleanup(srv.Close)
	tr := netguard.Transport(false)
	guarded := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == "public.test:80" {
			var d net.Dialer
			return d.DialContext(ctx, network, srv.Listener.Addr().String())
		}
		return guarded(ctx, network, addr)
	}
	c := &http.Client{Transport: tr}
	resp, err := c.Get("http://public.test/")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("redirect to loopback answered %s, want refused", resp.Status)
	}
	if !errors.Is(err, netguard.ErrRefused) {
		t.Fatalf("redirect to loopback: %v, want ErrRefused", err)
	}
	c.CloseIdleConnections()
}
