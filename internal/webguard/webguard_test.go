package webguard_test

import (
	"errors"
	"testing"

	"github.com/loomhq/loom/internal/webguard"
)

func TestHostAllowed(t *testing.T) {
	t.Parallel()
	allowed := []string{"localhost:7070", "127.0.0.1:7070", "[::1]:7070", "Loom.Example.com", "10.0.0.5"}
	for host, want := range map[string]bool{
		"localhost:7070":          true,
		"LocalHost:7070":          true,
		"localhost:7071":          false,
		"localhost":               false,
		"127.0.0.1:7070":          true,
		"[::1]:7070":              true,
		"[::1]":                   false,
		"loom.example.com":        true,
		"loom.example.com:443":    true,
		"loom.example.com.":       true,
		"evil.loom.example.com":   false,
		"loom.example.com.evil":   false,
		"10.0.0.5:7070":           true,
		"10.0.0.50:7070":          false,
		"":                        false,
		"evil.example":            false,
		"localhost:7070@evil.com": false,
	} {
		if got := webguard.HostAllowed(allowed, host); got != want {
			t.Errorf("HostAllowed(%q) = %v, want %v", host, got, want)
		}
	}
	if !webguard.HostAllowed(nil, "anything.example") {
		t.Error("an empty list must allow every host")
	}
}

func TestSameOriginAndCrossSite(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		origin, host string
		want         bool
	}{
		{"http://127.0.0.1:7070", "127.0.0.1:7070", true},
		{"http://127.0.0.1:7071", "127.0.0.1:7070", false},
		{"https://loom.example.com", "loom.example.com", true},
		{"https://loom.example.com", "loom.example.com:443", true},
		{"http://loom.example.com", "loom.example.com:443", false},
		{"http://[::1]:7070", "[::1]:7070", true},
		{"null", "127.0.0.1:7070", false},
		{"file://", "127.0.0.1:7070", false},
		{"http://evil.example", "127.0.0.1:7070", false},
	} {
		if got := webguard.SameOrigin(c.origin, c.host); got != c.want {
			t.Errorf("SameOrigin(%q, %q) = %v, want %v", c.origin, c.host, got, c.want)
		}
	}
	for _, c := range []struct {
		site, origin string
		want         bool
	}{
		{"", "", false},
		{"none", "", false},
		{"same-origin", "http://h:1", false},
		{"same-site", "", true},
		{"cross-site", "", true},
		{"", "http://evil.example", true},
		{"", "null", true},
	} {
		if got := webguard.CrossSite(c.site, c.origin, "h:1"); got != c.want {
			t.Errorf("CrossSite(%q, %q) = %v, want %v", c.site, c.origin, got, c.want)
		}
	}
}

func TestParseOrigin(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://Ops.Example.com":      "https://ops.example.com",
		"https://ops.example.com:443/": "https://ops.example.com",
		"http://localhost:3000":        "http://localhost:3000",
		"http://h:80":                  "http://h",
	} {
		if got, err := webguard.ParseOrigin(in); err != nil || got != want {
			t.Errorf("ParseOrigin(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ops.example.com", "ftp://h", "https://h/path", "https://u@h", "https://h?x=1", "*"} {
		if _, err := webguard.ParseOrigin(in); !errors.Is(err, webguard.ErrBadOrigin) {
			t.Errorf("ParseOrigin(%q): %v, want ErrBadOrigin", in, err)
		}
	}
}
