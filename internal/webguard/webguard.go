// Package webguard holds the checks loom's API and web UI share against
// requests a browser is tricked into sending: a Host header that is not
// one of the server's own names (DNS rebinding) and an Origin that is not
// the server's own (cross-site requests).
package webguard

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// HostAllowed reports whether host, a request's Host header, is one of
// allowed. An entry with a port ("localhost:7070", "[::1]:7070") matches
// that host and port; an entry without one ("loom.example.com") matches
// the host on any port, for a name a proxy forwards with or without its
// port. Names compare case-insensitively. An empty allowed list allows
// every host: the check is on only when a list is given.
func HostAllowed(allowed []string, host string) bool {
	if len(allowed) == 0 {
		return true
	}
	name, port := splitHost(host)
	if name == "" {
		return false
	}
	for _, a := range allowed {
		an, ap := splitHost(a)
		if an == name && (ap == "" || ap == port) {
			return true
		}
	}
	return false
}

// splitHost splits "host[:port]" into a lower-case host without IPv6
// brackets and the port ("" when absent).
func splitHost(hostport string) (host, port string) {
	hostport = strings.ToLower(strings.TrimSpace(hostport))
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		return strings.TrimSuffix(h, "."), p
	}
	// No port: a name, an IPv4 address, a bracketed or a bare IPv6 one.
	return strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), "."), ""
}

// SameOrigin reports whether origin, a request's Origin header, names the
// host and port the request was sent to (its Host header). An origin
// without a port stands for its scheme's default port, so
// "https://loom.example.com" matches the Host "loom.example.com" and
// "loom.example.com:443". The opaque origin "null" never matches.
func SameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	on, op := splitHost(u.Host)
	hn, hp := splitHost(host)
	def := "80"
	if u.Scheme == "https" {
		def = "443"
	}
	if op == "" {
		op = def
	}
	if hp == "" {
		hp = def
	}
	return on == hn && op == hp
}

// CrossSite reports whether a browser says it sent a request on behalf
// of a page of another origin: its Sec-Fetch-Site is "cross-site" or
// "same-site" (another port or subdomain is another origin), or its
// Origin is present and not the Host's. A request without either header
// comes from a program, not a page, and is not cross-site.
func CrossSite(secFetchSite, origin, host string) bool {
	switch secFetchSite {
	case "cross-site", "same-site":
		return true
	}
	return origin != "" && !SameOrigin(origin, host)
}

// ErrBadOrigin is returned by ParseOrigin for a value that is not an
// origin.
var ErrBadOrigin = errors.New("not an origin")

// ParseOrigin checks that s is an origin as browsers send it in the
// Origin header, scheme://host[:port] with no path, and returns it in the
// form a browser sends: lower case, without a trailing slash or the
// scheme's default port.
func ParseOrigin(s string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(strings.TrimSpace(s), "/"))
	if err != nil {
		return "", fmt.Errorf("%q: %w: %w", s, ErrBadOrigin, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q: %w: want scheme://host[:port], as in https://ops.example.com", s, ErrBadOrigin)
	}
	host := strings.ToLower(u.Host)
	if p := u.Port(); (u.Scheme == "http" && p == "80") || (u.Scheme == "https" && p == "443") {
		host = strings.TrimSuffix(host, ":"+p)
	}
	return strings.ToLower(u.Scheme) + "://" + host, nil
}
