package file

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/bus/internal/inproc"
)

// StreamConfig configures a Stream. At least one of Reader and Writer is
// required.
type StreamConfig struct {
	// Reader supplies messages, one JSON line each, typically os.Stdin or a
	// worker's stdout. A line with a result is a done message; any other is
	// a ready task for the queue it names, or for Queue. Default none:
	// Consume and ConsumeDone fail.
	Reader io.Reader
	// Writer receives published messages, one JSON line each, typically
	// os.Stdout or a worker's stdin. Writes are serialised, one Write per
	// Publish call, and a Writer with a Flush() error method (bufio.Writer)
	// is flushed after each. Default none: Publish and PublishDone fail.
	Writer io.Writer
	// Name names Reader in errors ("stdin:12: ..."). Default "stream".
	Name string
	// Queue is the queue of ready tasks read without one, as seed 003 tasks
	// are. Default bus.DefaultQueue ("default").
	Queue string
	// AckWait is the AckWait of consumers whose ConsumeOptions set none.
	// Default bus.DefaultAckWait (30s).
	AckWait time.Duration
	// OnError is told of every line read that is skipped: malformed JSON
	// (a *bus.MalformedError), an invalid queue name. Reading goes on with
	// the next line. It is called from the goroutine that reads Reader.
	// Default: a warning on slog.Default().
	OnError func(error)
}

func (c StreamConfig) withDefaults() StreamConfig {
	if c.Name == "" {
		c.Name = "stream"
	}
	if c.Queue == "" {
		c.Queue = bus.DefaultQueue
	}
	if c.AckWait == 0 {
		c.AckWait = bus.DefaultAckWait
	}
	if c.OnError == nil {
		c.OnError = func(err error) { slog.Default().Warn("file bus: skipped a line", "err", err) }
	}
	return c
}

func (c StreamConfig) validate() error {
	if c.Reader == nil && c.Writer == nil {
		return errors.New("file bus: StreamConfig needs a Reader, a Writer or both")
	}
	if c.AckWait < 0 {
		return fmt.Errorf("file bus: negative AckWait %s", c.AckWait)
	}
	if c.Queue != "" {
		if err := bus.ValidateQueue(c.Queue); err != nil {
			return fmt.Errorf("file bus: StreamConfig.Queue: %w", err)
		}
	}
	return nil
}

// Stream is a bus.Bus over one JSON-lines reader and one writer: publishing
// writes lines, consuming reads them. A goroutine reads Reader from
// NewStream on, holding what it reads in memory until consumed, until
// Reader ends or the Stream is closed. Once Reader has ended and everything
// read is acknowledged, Receive returns io.EOF: a worker on stdin finishes
// when its input does.
type Stream struct {
	cfg    StreamConfig
	hub    *inproc.Hub
	wmu    sync.Mutex
	closed atomic.Bool
	once   sync.Once
}

var _ bus.Bus = (*Stream)(nil)

// NewStream returns a Stream on cfg.Reader and cfg.Writer and starts
// reading cfg.Reader.
func NewStream(cfg StreamConfig) (*Stream, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Stream{cfg: cfg.withDefaults(), hub: inproc.NewHub()}
	if s.cfg.Reader != nil {
		go s.read()
	}
	return s, nil
}

var (
	errNoReader = errors.New("stream has no Reader")
	errNoWriter = errors.New("stream has no Writer")
)

// read routes every line of Reader to its queue in the hub, in batches of
// what is already buffered so that a fast writer costs one hub call per
// batch rather than per line.
func (s *Stream) read() {
	const maxBatch = 256
	r := bufio.NewReaderSize(s.cfg.Reader, readChunk)
	batch := make(map[string][]bus.Message)
	batched := 0
	flush := func() bool {
		for queue, msgs := range batch {
			if err := s.hub.Publish(queue, msgs); err != nil {
				return false // closed
			}
			delete(batch, queue)
		}
		batched = 0
		return true
	}
	var offset int64
	lineNo := 0
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			lineNo++
			start := offset
			offset += int64(len(line))
			if queue, m, ok := s.route(line, lineNo, start); ok {
				batch[queue] = append(batch[queue], m)
				batched++
			}
		}
		if err != nil || r.Buffered() == 0 || batched >= maxBatch {
			if !flush() {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !s.closed.Load() {
				s.cfg.OnError(fmt.Errorf("file bus: read %s: %w", s.cfg.Name, err))
			}
			s.hub.SetEOF()
			return
		}
	}
}

// route decodes a line and picks its queue, reporting it to OnError and
// returning false when it is to be skipped.
func (s *Stream) route(line []byte, lineNo int, offset int64) (string, bus.Message, bool) {
	if len(bytes.TrimSpace(line)) == 0 {
		return "", bus.Message{}, false
	}
	m, err := decodeLine(line, s.cfg.Name, lineNo, offset)
	if err != nil {
		s.cfg.OnError(err)
		return "", m, false
	}
	if m.Result != "" || m.IsProgress() {
		return bus.DoneQueue, m, true
	}
	if m.Queue == "" {
		m.Queue = s.cfg.Queue
	}
	if err := bus.ValidateQueue(m.Queue); err != nil {
		s.cfg.OnError(fmt.Errorf("file bus: %s:%d: task %q: %w", s.cfg.Name, lineNo, m.ID, err))
		return "", m, false
	}
	return m.Queue, m, true
}

// Publish implements bus.Publisher: msgs are written to Writer as lines
// with their queue set.
func (s *Stream) Publish(ctx context.Context, queue string, msgs ...bus.Message) error {
	if err := bus.ValidateQueue(queue); err != nil {
		return fmt.Errorf("file bus: publish: %w", err)
	}
	if err := s.write(ctx, queue, msgs, false); err != nil {
		return fmt.Errorf("file bus: publish to %q on %s: %w", queue, s.cfg.Name, err)
	}
	return nil
}

// PublishDone implements bus.DonePublisher: msgs are written to Writer as
// lines.
func (s *Stream) PublishDone(ctx context.Context, msgs ...bus.Message) error {
	if err := s.write(ctx, "", msgs, true); err != nil {
		return fmt.Errorf("file bus: publish done on %s: %w", s.cfg.Name, err)
	}
	return nil
}

func (s *Stream) write(ctx context.Context, queue string, msgs []bus.Message, done bool) error {
	if s.closed.Load() {
		return bus.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.cfg.Writer == nil {
		return errNoWriter
	}
	if err := validate(msgs, done); err != nil {
		return err
	}
	data, err := encodeLines(msgs, queue)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := s.cfg.Writer.Write(data); err != nil {
		return err
	}
	if f, ok := s.cfg.Writer.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// Consume implements bus.Subscriber over the ready tasks read from Reader.
func (s *Stream) Consume(ctx context.Context, queue string, opts bus.ConsumeOptions) (bus.Consumer, error) {
	if err := bus.ValidateQueue(queue); err != nil {
		return nil, fmt.Errorf("file bus: consume: %w", err)
	}
	return s.consume(ctx, queue, opts)
}

// ConsumeDone implements bus.DoneSubscriber over the done tasks read from
// Reader.
func (s *Stream) ConsumeDone(ctx context.Context, opts bus.ConsumeOptions) (bus.Consumer, error) {
	return s.consume(ctx, bus.DoneQueue, opts)
}

func (s *Stream) consume(ctx context.Context, queue string, opts bus.ConsumeOptions) (bus.Consumer, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("file bus: consume %q on %s: %w", queue, s.cfg.Name, bus.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("file bus: consume %q on %s: %w", queue, s.cfg.Name, err)
	}
	if s.cfg.Reader == nil {
		return nil, fmt.Errorf("file bus: consume %q on %s: %w", queue, s.cfg.Name, errNoReader)
	}
	if opts.AckWait == 0 {
		opts.AckWait = s.cfg.AckWait
	}
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("file bus: consume %q on %s: %w", queue, s.cfg.Name, err)
	}
	g, err := s.hub.Group(queue, opts.Group)
	if err != nil {
		return nil, fmt.Errorf("file bus: consume %q on %s as group %q: %w", queue, s.cfg.Name, opts.Group, err)
	}
	return inproc.NewConsumer(g, opts.AckWait), nil
}

// Close implements bus.Bus. It closes Reader if it is an io.Closer, which
// ends the reading goroutine; otherwise that goroutine ends when Reader
// next returns. Writer is left open: it belongs to the caller.
func (s *Stream) Close() error {
	var err error
	s.once.Do(func() {
		s.closed.Store(true)
		s.hub.Close()
		if c, ok := s.cfg.Reader.(io.Closer); ok {
			if cerr := c.Close(); cerr != nil {
				err = fmt.Errorf("file bus: close %s: %w", s.cfg.Name, cerr)
			}
		}
	})
	return err
}
