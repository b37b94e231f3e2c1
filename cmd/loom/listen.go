package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/loomhq/loom/internal/webguard"
)

// webOptions are the flags of `loom server` about who may reach it over
// HTTP and how.
type webOptions struct {
	// corsOrigins are the other origins whose pages may call the API.
	corsOrigins []string
	// allowedHosts are extra names the server answers to, beyond those of
	// its listen address.
	allowedHosts []string
	// tlsCert and tlsKey, both or neither, serve HTTPS.
	tlsCert, tlsKey string
}

// check validates the flags before anything starts, and returns the CORS
// origins in the form browsers send them.
func (o webOptions) check() ([]string, error) {
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return nil, &usageError{errors.New("--tls-cert and --tls-key go together: give both to serve HTTPS, or neither")}
	}
	var origins []string
	for _, s := range o.corsOrigins {
		n, err := webguard.ParseOrigin(s)
		if err != nil {
			return nil, &usageError{fmt.Errorf("--cors-origin %w", err)}
		}
		origins = append(origins, n)
	}
	for _, h := range o.allowedHosts {
		if h == "" || strings.ContainsAny(h, "/ ") {
			return nil, &usageError{fmt.Errorf("--allowed-host %q: want a host name or address, with or without :port", h)}
		}
	}
	return origins, nil
}

// tlsConfig loads the certificate and key of --tls-cert and --tls-key; nil
// without them.
func (o webOptions) tlsConfig() (*tls.Config, error) {
	if o.tlsCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("load --tls-cert %s and --tls-key %s: %w", o.tlsCert, o.tlsKey, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// hostsFor returns the Host header values the server answers to when
// listening on addr (the --addr flag) and bound to bound: for a loopback
// address localhost, 127.0.0.1 and [::1]; for one specific address that
// address (and the name given in --addr, if a name); for a wildcard
// address every address of the machine's interfaces and its host name;
// each with the port. The --allowed-host names come on top, for a name
// that reaches the server through a proxy or load balancer.
func (o webOptions) hostsFor(addr string, bound net.Addr) []string {
	host, port, err := net.SplitHostPort(bound.String())
	if err != nil {
		return append([]string{bound.String()}, o.allowedHosts...)
	}
	var hosts []string
	add := func(h string) { hosts = append(hosts, net.JoinHostPort(h, port)) }
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		add(host)
	case ip.IsLoopback():
		add("localhost")
		add("127.0.0.1")
		add("::1")
	case ip.IsUnspecified():
		add("localhost")
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					add(n.IP.String())
				}
			}
		}
		if name, err := os.Hostname(); err == nil && name != "" {
			add(name)
		}
	default:
		add(ip.String())
	}
	// A name in --addr ("myhost:7070") is how clients were told to reach
	// the server.
	if given, _, err := net.SplitHostPort(addr); err == nil && given != "" && net.ParseIP(given) == nil {
		add(given)
	}
	return append(hosts, o.allowedHosts...)
}
