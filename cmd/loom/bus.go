package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/bus/file"
	busnats "github.com/loomhq/loom/bus/nats"
	busredis "github.com/loomhq/loom/bus/redis"
)

// busFlagHelp is the help of every --bus flag.
const busFlagHelp = "task bus shared with 'loom worker' processes: nats://HOST:4222, redis://HOST:6379/0, file://DIR or a directory"

// busSpec is a parsed --bus value.
type busSpec struct {
	// kind is "nats", "redis" or "file".
	kind string
	// nats and redis are the configurations of those kinds; dir is the
	// file bus's directory.
	nats  busnats.Config
	redis busredis.Config
	dir   string
}

// parseBus reads a --bus value:
//
//   - nats://HOST:PORT[,nats://HOST2:PORT][?stream=S&subject=P], also
//     tls://: NATS JetStream, the bus's stream and subject prefix
//     defaulting to LOOM and loom;
//   - redis://[USER:PASSWORD@]HOST:PORT/DB[?prefix=P], also rediss://:
//     Redis Streams, keys under prefix (default "loom:"); other query
//     options are go-redis's;
//   - file://DIR or a path with no scheme: a directory of JSON-lines
//     files, on one machine.
func parseBus(s string) (busSpec, error) {
	scheme, _, hasScheme := strings.Cut(s, "://")
	if !hasScheme {
		if s == "" {
			return busSpec{}, fmt.Errorf("empty bus")
		}
		return busSpec{kind: "file", dir: s}, nil
	}
	switch scheme {
	case "file":
		dir := strings.TrimPrefix(s, "file://")
		if dir == "" {
			return busSpec{}, fmt.Errorf("bus %q names no directory", s)
		}
		return busSpec{kind: "file", dir: dir}, nil
	case "nats", "tls":
		base, query, _ := strings.Cut(s, "?")
		q, err := url.ParseQuery(query)
		if err != nil {
			return busSpec{}, fmt.Errorf("bus %q: %w", s, err)
		}
		cfg := busnats.Config{URL: base, Stream: q.Get("stream"), Subject: q.Get("subject")}
		for k := range q {
			if k != "stream" && k != "subject" {
				return busSpec{}, fmt.Errorf("bus %q: unknown option %q (want stream or subject)", s, k)
			}
		}
		if _, err := url.Parse(strings.Split(base, ",")[0]); err != nil {
			return busSpec{}, fmt.Errorf("bus %q: %w", s, err)
		}
		return busSpec{kind: "nats", nats: cfg}, nil
	case "redis", "rediss":
		u, err := url.Parse(s)
		if err != nil {
			return busSpec{}, fmt.Errorf("bus %q: %w", s, err)
		}
		q := u.Query()
		prefix := q.Get("prefix")
		q.Del("prefix")
		u.RawQuery = q.Encode()
		return busSpec{kind: "redis", redis: busredis.Config{URL: u.String(), Prefix: prefix}}, nil
	}
	return busSpec{}, fmt.Errorf("bus %q: unknown scheme %q (want nats, redis, file or a directory)", s, scheme)
}

// openBus opens the bus spec names, giving it up to ctx's deadline (or 10
// seconds) to connect.
func openBus(ctx context.Context, spec busSpec) (bus.Bus, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	switch spec.kind {
	case "nats":
		return busnats.New(ctx, spec.nats)
	case "redis":
		return busredis.New(ctx, spec.redis)
	default:
		return file.New(file.Config{Dir: spec.dir})
	}
}

// String names the bus in logs, without a password.
func (s busSpec) String() string {
	switch s.kind {
	case "nats":
		if u, err := url.Parse(s.nats.URL); err == nil && !strings.Contains(s.nats.URL, ",") {
			return u.Redacted()
		}
		return "nats"
	case "redis":
		if u, err := url.Parse(s.redis.URL); err == nil {
			return u.Redacted()
		}
		return "redis"
	}
	return s.dir
}

// benchBus is a bus opened for one benchmark run, removed when closed.
type benchBus struct {
	bus.Bus
	remove func(context.Context) error
}

// Close removes what the run left on the server, then closes the bus.
func (b *benchBus) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := b.remove(ctx)
	return errors.Join(err, b.Bus.Close())
}

// openBenchBus opens the bus s names for `loom bench`, on a stream or key
// prefix of the run's own unless s names one, and a file bus under dir.
func openBenchBus(ctx context.Context, s, dir string) (*benchBus, error) {
	spec, err := parseBus(s)
	if err != nil {
		return nil, &usageError{fmt.Errorf("--bus: %w", err)}
	}
	run := fmt.Sprintf("%d_%d", os.Getpid(), time.Now().UnixNano())
	switch spec.kind {
	case "nats":
		if spec.nats.Stream == "" {
			spec.nats.Stream, spec.nats.Subject = "LOOM_BENCH_"+run, "loombench"+run
		}
	case "redis":
		if spec.redis.Prefix == "" {
			spec.redis.Prefix = "loom:bench:" + run + ":"
		}
	default:
		spec.dir = filepath.Join(dir, "bus")
	}
	b, err := openBus(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("open bus %s: %w", spec, err)
	}
	bb := &benchBus{Bus: b, remove: func(context.Context) error { return nil }}
	switch b := b.(type) {
	case *busnats.Bus:
		bb.remove = b.DeleteStream
	case *busredis.Bus:
		bb.remove = b.DeleteKeys
	}
	return bb, nil
}
