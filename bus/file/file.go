package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/bus/internal/inproc"
)

// ErrGroupLocked is returned by Consume and ConsumeDone when another Bus,
// in this process or another, consumes the same group of the same file:
// the group's offsets file is locked by it. Two consumers of one group
// would each deliver every line, so the second is refused. Stop the other
// consumer, or share its Bus.
var ErrGroupLocked = errors.New("the consumer group is in use by another process or Bus on this directory (its offsets file is locked); a file bus serves a group from one Bus at a time: stop the other consumer, or use a NATS or Redis bus for several workers")

// DefaultPollInterval is how often a waiting Receive looks for lines that
// another process appended, when Config.PollInterval is zero.
const DefaultPollInterval = 25 * time.Millisecond

// Config configures a directory Bus.
type Config struct {
	// Dir holds the queue files, done.jsonl and the .offsets directory; it
	// is created if missing. Required.
	Dir string
	// PollInterval is how often a waiting Receive checks its file for lines
	// appended by other processes. Default DefaultPollInterval (25ms). Lines
	// published through a Bus of this process wake receivers at once.
	PollInterval time.Duration
	// AckWait is the AckWait of consumers whose ConsumeOptions set none.
	// Default bus.DefaultAckWait (30s).
	AckWait time.Duration
	// Sync makes every publish and every committed offset wait for fsync,
	// for a bus that must survive a power cut rather than a process crash.
	// Default false.
	Sync bool
}

func (c Config) withDefaults() Config {
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.AckWait == 0 {
		c.AckWait = bus.DefaultAckWait
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Dir == "":
		return errors.New("file bus: Config.Dir is required")
	case c.PollInterval < 0:
		return fmt.Errorf("file bus: negative PollInterval %s", c.PollInterval)
	case c.AckWait < 0:
		return fmt.Errorf("file bus: negative AckWait %s", c.AckWait)
	}
	return nil
}

// Bus is a bus.Bus over a directory of JSON-lines files. It is safe for
// concurrent use.
type Bus struct {
	cfg Config

	mu      sync.Mutex
	closed  bool
	writers map[string]*writer // by file path
	groups  map[string]*group  // by queue file path and group name
}

var _ bus.Bus = (*Bus)(nil)

// group is one consumer group reading one file.
type group struct {
	g    *inproc.Group
	src  *source
	path string
}

// writer appends to one file.
type writer struct {
	mu   sync.Mutex
	f    *os.File // nil once closed
	path string
}

// New opens a bus on cfg.Dir, creating the directory if needed.
func New(cfg Config) (*Bus, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("file bus: %w", err)
	}
	cfg.Dir = dir
	if err := os.MkdirAll(filepath.Join(dir, offsetsDir), 0o755); err != nil {
		return nil, fmt.Errorf("file bus: %w", err)
	}
	return &Bus{cfg: cfg, writers: make(map[string]*writer), groups: make(map[string]*group)}, nil
}

// offsetsDir is where groups commit their offsets, under Config.Dir.
const offsetsDir = ".offsets"

func (b *Bus) queuePath(queue string) string {
	return filepath.Join(b.cfg.Dir, queue+".jsonl")
}

// Publish implements bus.Publisher: one append of all msgs to
// <Dir>/<queue>.jsonl.
func (b *Bus) Publish(ctx context.Context, queue string, msgs ...bus.Message) error {
	if err := bus.ValidateQueue(queue); err != nil {
		return fmt.Errorf("file bus: publish: %w", err)
	}
	if err := b.publish(ctx, b.queuePath(queue), queue, msgs, false); err != nil {
		return fmt.Errorf("file bus: publish to %q: %w", queue, err)
	}
	return nil
}

// PublishDone implements bus.DonePublisher: one append of all msgs to
// <Dir>/done.jsonl.
func (b *Bus) PublishDone(ctx context.Context, msgs ...bus.Message) error {
	if err := b.publish(ctx, b.queuePath(bus.DoneQueue), "", msgs, true); err != nil {
		return fmt.Errorf("file bus: publish done: %w", err)
	}
	return nil
}

func (b *Bus) publish(ctx context.Context, path, queue string, msgs []bus.Message, done bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validate(msgs, done); err != nil {
		return err
	}
	data, err := encodeLines(msgs, queue)
	if err != nil {
		return err
	}
	w, err := b.writer(path)
	if err != nil {
		return err
	}
	if err := w.append(data, b.cfg.Sync); err != nil {
		return err
	}
	notify(path)
	return nil
}

func (b *Bus) writer(path string) (*writer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, bus.ErrClosed
	}
	if w := b.writers[path]; w != nil {
		return w, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	w := &writer{f: f, path: path}
	b.writers[path] = w
	return w, nil
}

// append writes data in one write call: with O_APPEND, appends from other
// processes land before or after it, never inside.
func (w *writer) append(data []byte, sync bool) error {
	if len(data) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return bus.ErrClosed
	}
	if _, err := w.f.Write(data); err != nil {
		return err
	}
	if sync {
		return w.f.Sync()
	}
	return nil
}

func (w *writer) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// Consume implements bus.Subscriber: the group reads <Dir>/<queue>.jsonl
// from its committed offset.
func (b *Bus) Consume(ctx context.Context, queue string, opts bus.ConsumeOptions) (bus.Consumer, error) {
	if err := bus.ValidateQueue(queue); err != nil {
		return nil, fmt.Errorf("file bus: consume: %w", err)
	}
	return b.consume(ctx, queue, queue, opts)
}

// ConsumeDone implements bus.DoneSubscriber: the group reads
// <Dir>/done.jsonl from its committed offset.
func (b *Bus) ConsumeDone(ctx context.Context, opts bus.ConsumeOptions) (bus.Consumer, error) {
	return b.consume(ctx, bus.DoneQueue, "", opts)
}

// consume joins a group of file name; messages read get Queue set to queue
// when they lack one.
func (b *Bus) consume(ctx context.Context, name, queue string, opts bus.ConsumeOptions) (bus.Consumer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("file bus: consume %q: %w", name, err)
	}
	if opts.AckWait == 0 {
		opts.AckWait = b.cfg.AckWait
	}
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("file bus: consume %q: %w", name, err)
	}
	g, err := b.group(name, queue, opts.Group)
	if err != nil {
		return nil, fmt.Errorf("file bus: consume %q as group %q: %w", name, opts.Group, err)
	}
	return inproc.NewConsumer(g, opts.AckWait), nil
}

func (b *Bus) group(name, queue, groupName string) (*inproc.Group, error) {
	path := b.queuePath(name)
	key := path + "\x00" + groupName
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, bus.ErrClosed
	}
	if g := b.groups[key]; g != nil {
		return g.g, nil
	}
	offPath := filepath.Join(b.cfg.Dir, offsetsDir, groupName+"."+name)
	src, err := openSource(path, offPath, queue, b.cfg.Sync)
	if err != nil {
		return nil, err
	}
	g := inproc.NewGroup(inproc.GroupConfig{Source: src, Poll: b.cfg.PollInterval})
	watch(path, g)
	b.groups[key] = &group{g: g, src: src, path: path}
	return g, nil
}

// Close implements bus.Bus. Unacknowledged lines stay after the committed
// offsets, to be delivered again by the next Bus on the directory.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	var errs []error
	for _, g := range b.groups {
		g.g.Close() // waits out a Fill or Ack in progress, so src is idle
		unwatch(g.path, g.g)
		errs = append(errs, g.src.close())
	}
	for _, w := range b.writers {
		errs = append(errs, w.close())
	}
	b.groups, b.writers = nil, nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("file bus: close: %w", err)
	}
	return nil
}

// watchers lets a Publish wake the consumers of its file in every Bus of
// the process, so that only other processes' appends wait for a poll.
var watchers = struct {
	sync.Mutex
	m map[string]map[*inproc.Group]struct{}
}{m: make(map[string]map[*inproc.Group]struct{})}

func watch(path string, g *inproc.Group) {
	watchers.Lock()
	defer watchers.Unlock()
	if watchers.m[path] == nil {
		watchers.m[path] = make(map[*inproc.Group]struct{})
	}
	watchers.m[path][g] = struct{}{}
}

func unwatch(path string, g *inproc.Group) {
	watchers.Lock()
	defer watchers.Unlock()
	delete(watchers.m[path], g)
	if len(watchers.m[path]) == 0 {
		delete(watchers.m, path)
	}
}

func notify(path string) {
	watchers.Lock()
	defer watchers.Unlock()
	for g := range watchers.m[path] {
		g.Notify()
	}
}
