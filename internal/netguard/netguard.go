// Package netguard keeps loom's outgoing HTTP requests (http tasks, flow
// files' http steps, alert notifiers) away from the machine's own and
// private networks unless the operator allowed them (--allow-private-net).
//
// The check runs when a connection is made, on the address actually dialed
// (net.Dialer.Control), so a host name that resolves to a refused address
// (localhost) and a redirect to one are refused too, and DNS cannot answer
// differently between a check and the connection.
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Flag is the option that lifts the guard, named in every refusal.
const Flag = "--allow-private-net"

// ErrRefused is wrapped by every refused connection.
var ErrRefused = errors.New("address refused: loopback, link-local and private networks need " + Flag)

// refused are the networks a guarded connection may not reach, with the
// words a refusal uses for them.
var refused = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("fc00::/7"), "private"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
}

// Check returns an error wrapping ErrRefused when addr is in a refused
// network. IPv4-mapped IPv6 addresses (::ffff:127.0.0.1) are checked as the
// IPv4 address they carry; multicast is refused too.
func Check(addr netip.Addr) error {
	addr = addr.Unmap().WithZone("")
	if addr.IsMulticast() {
		return fmt.Errorf("%s is multicast: %w", addr, ErrRefused)
	}
	for _, r := range refused {
		if r.prefix.Contains(addr) {
			return fmt.Errorf("%s is %s: %w", addr, r.what, ErrRefused)
		}
	}
	return nil
}

// Control is a net.Dialer.Control that refuses connections to the networks
// Check refuses. address is the resolved "ip:port" being dialed.
func Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: not an IP address: %w", address, ErrRefused)
	}
	return Check(ap.Addr())
}

// Transport returns a transport like http.DefaultTransport's whose
// connections are checked with Control, unless allowPrivate. A guarded
// transport uses no proxy: a proxy would make the connection on its behalf,
// past the check.
func Transport(allowPrivate bool) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if allowPrivate {
		return tr
	}
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: Control}
	tr.Proxy = nil
	tr.DialContext = d.DialContext
	return tr
}

// Client returns an http.Client on Transport(allowPrivate), following up to
// ten redirects as http.Client does by default; each redirect's connection
// is checked like the first.
func Client(allowPrivate bool) *http.Client {
	return &http.Client{Transport: Transport(allowPrivate)}
}
