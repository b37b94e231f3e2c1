package main

import (
	"strings"
	"testing"
)

// TestParseBus checks every form --bus takes and that bad ones are
// refused with a reason.
func TestParseBus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, kind, want  string // want: the URL or directory the bus opens
		stream, subject string
		prefix          string
	}{
		{in: "nats://127.0.0.1:4222", kind: "nats", want: "nats://127.0.0.1:4222"},
		{in: "nats://a:4222,nats://b:4222?stream=S1&subject=s.one", kind: "nats", want: "nats://a:4222,nats://b:4222", stream: "S1", subject: "s.one"},
		{in: "tls://h:4222", kind: "nats", want: "tls://h:4222"},
		{in: "redis://127.0.0.1:6379/0", kind: "redis", want: "redis://127.0.0.1:6379/0"},
		{in: "redis://u:pw@h:6379/2?prefix=app:&dial_timeout=3s", kind: "redis", want: "redis://u:pw@h:6379/2?dial_timeout=3s", prefix: "app:"},
		{in: "rediss://h:6380/0", kind: "redis", want: "rediss://h:6380/0"},
		{in: "file:///var/loom/bus", kind: "file", want: "/var/loom/bus"},
		{in: "file://rel/bus", kind: "file", want: "rel/bus"},
		{in: "/var/loom/bus", kind: "file", want: "/var/loom/bus"},
		{in: "bus", kind: "file", want: "bus"},
	} {
		s, err := parseBus(tc.in)
		if err != nil {
			t.Errorf("parseBus(%q): %v", tc.in, err)
			continue
		}
		got := s.dir
		switch s.kind {
		case "nats":
			got = s.nats.URL
			if s.nats.Stream != tc.stream || s.nats.Subject != tc.subject {
				t.Errorf("parseBus(%q): stream %q subject %q, want %q %q", tc.in, s.nats.Stream, s.nats.Subject, tc.stream, tc.subject)
			}
		case "redis":
			got = s.redis.URL
			if s.redis.Prefix != tc.prefix {
				t.Errorf("parseBus(%q): prefix %q, want %q", tc.in, s.redis.Prefix, tc.prefix)
			}
		}
		if s.kind != tc.kind || got != tc.want {
			t.Errorf("parseBus(%q) = %s %q, want %s %q", tc.in, s.kind, got, tc.kind, tc.want)
		}
	}
	for _, bad := range []string{"", "kafka://h:9092", "file://", "nats://h:4222?bogus=1", "redis://h:bad port"} {
		if _, err := parseBus(bad); err == nil {
			t.Errorf("parseBus(%q) accepted it", bad)
		}
	}
	if s, _ := parseBus("redis://u:secret@h:6379/0"); strings.Contains(s.String(), "secret") {
		t.Errorf("bus named in logs with its password: %s", s)
	}
}
