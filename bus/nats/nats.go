package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/loomhq/loom/bus"
)

// Defaults of Config.
const (
	// DefaultStream is the stream of a Config that names none.
	DefaultStream = "LOOM"
	// DefaultSubject is the subject prefix of a Config that names none.
	DefaultSubject = "loom"
	// DefaultTrimInterval is how often acknowledged messages are removed.
	DefaultTrimInterval = 5 * time.Second
	// DefaultPullWait is how long a waiting pull stays open.
	DefaultPullWait = 2 * time.Second
	// DefaultMaxAckPending bounds a group's unsettled deliveries.
	DefaultMaxAckPending = 10_000
)

// Config configures a Bus. Only URL is required.
type Config struct {
	// URL is the NATS server, as nats.Connect takes it
	// ("nats://127.0.0.1:4222", several separated by commas). Required.
	URL string
	// Stream is the JetStream stream holding every queue of the bus,
	// created when missing. Default DefaultStream ("LOOM").
	Stream string
	// Subject is the prefix of the stream's subjects: ready tasks of queue Q
	// on <Subject>.ready.Q, done tasks on <Subject>.done. Default
	// DefaultSubject ("loom"). Buses with different Stream and Subject are
	// independent.
	Subject string
	// AckWait is the AckWait of consumers whose ConsumeOptions set none.
	// Default bus.DefaultAckWait (30s).
	AckWait time.Duration
	// Replicas is the stream's replica count on a clustered server.
	// Default 1.
	Replicas int
	// MaxAckPending bounds the deliveries a group may have unsettled at
	// once; the server holds back further messages until some are
	// settled. Default DefaultMaxAckPending (10,000).
	MaxAckPending int
	// TrimInterval is how often the bus removes messages every group has
	// acknowledged. Default DefaultTrimInterval (5s); negative turns
	// trimming off (the stream then grows up to the server's limits).
	TrimInterval time.Duration
	// PullWait is how long one waiting pull stays open on the server before
	// the consumer renews it; it bounds how long a consumer stays deaf
	// after the server restarts. Default DefaultPullWait (2s).
	PullWait time.Duration
	// Name names the connection in the server's monitoring. Default
	// "loom".
	Name string
}

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Subject == "" {
		c.Subject = DefaultSubject
	}
	if c.AckWait == 0 {
		c.AckWait = bus.DefaultAckWait
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = DefaultMaxAckPending
	}
	if c.TrimInterval == 0 {
		c.TrimInterval = DefaultTrimInterval
	}
	if c.PullWait == 0 {
		c.PullWait = DefaultPullWait
	}
	if c.Name == "" {
		c.Name = "loom"
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.URL == "":
		return errors.New("nats bus: Config.URL is required")
	case c.AckWait < 0, c.PullWait < 0:
		return errors.New("nats bus: negative AckWait or PullWait")
	case strings.ContainsAny(c.Stream, " .*>/\\\t"):
		return fmt.Errorf("nats bus: stream name %q may not hold spaces, dots, wildcards or slashes", c.Stream)
	case c.Subject != "" && bus.ValidateQueue(c.Subject) != nil && c.Subject != bus.DoneQueue:
		return fmt.Errorf("nats bus: subject prefix %q: want dot-separated tokens of [A-Za-z0-9_-]", c.Subject)
	}
	return nil
}

// Bus is a bus.Bus over NATS JetStream. It is safe for concurrent use.
type Bus struct {
	cfg    Config
	nc     *natsgo.Conn
	js     jetstream.JetStream
	stream jetstream.Stream

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // background goroutines: the trimmer, drained pulls

	mu      sync.Mutex
	closing bool // set by Close before it waits for wg
}

var _ bus.Bus = (*Bus)(nil)

// New connects to cfg.URL and creates the stream if it is missing. The
// connection reconnects for ever: a bus outlives restarts of its server.
func New(ctx context.Context, cfg Config) (*Bus, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	nc, err := natsgo.Connect(cfg.URL, natsgo.Name(cfg.Name), natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(250*time.Millisecond), natsgo.RetryOnFailedConnect(false))
	if err != nil {
		return nil, fmt.Errorf("nats bus: connect to %s: %w", cfg.URL, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096), jetstream.WithPublishAsyncTimeout(5*time.Second))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats bus: %w", err)
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "loom task bus",
		Subjects:    []string{cfg.Subject + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats bus: create stream %s: %w", cfg.Stream, err)
	}
	b := &Bus{cfg: cfg, nc: nc, js: js, stream: st}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	if cfg.TrimInterval > 0 {
		b.wg.Add(1)
		go b.trimLoop()
	}
	return b, nil
}

// DeleteStream removes the bus's stream and everything in it: for tests
// and for tearing a deployment down.
func (b *Bus) DeleteStream(ctx context.Context) error {
	if err := b.js.DeleteStream(ctx, b.cfg.Stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("nats bus: delete stream %s: %w", b.cfg.Stream, err)
	}
	return nil
}

func (b *Bus) closed() bool { return b.ctx.Err() != nil }

func (b *Bus) subject(queue string) string {
	if queue == bus.DoneQueue {
		return b.cfg.Subject + ".done"
	}
	return b.cfg.Subject + ".ready." + queue
}

// Publish implements bus.Publisher.
func (b *Bus) Publish(ctx context.Context, queue string, msgs ...bus.Message) error {
	if err := bus.ValidateQueue(queue); err != nil {
		return fmt.Errorf("nats bus: publish: %w", err)
	}
	out := make([]bus.Message, len(msgs))
	for i := range msgs {
		if err := msgs[i].ValidateReady(); err != nil {
			return fmt.Errorf("nats bus: publish to %q: %w", queue, err)
		}
		out[i] = msgs[i]
		out[i].Queue = queue
	}
	if err := b.publish(ctx, b.subject(queue), out); err != nil {
		return fmt.Errorf("nats bus: publish to %q: %w", queue, err)
	}
	return nil
}

// PublishDone implements bus.DonePublisher.
func (b *Bus) PublishDone(ctx context.Context, msgs ...bus.Message) error {
	for i := range msgs {
		if err := msgs[i].ValidateDone(); err != nil {
			return fmt.Errorf("nats bus: publish done: %w", err)
		}
	}
	if err := b.publish(ctx, b.subject(bus.DoneQueue), msgs); err != nil {
		return fmt.Errorf("nats bus: publish done: %w", err)
	}
	return nil
}

// publish sends msgs to subject and waits until the server has stored every
// one, sending again, under the same message id, those whose
// acknowledgement failed.
func (b *Bus) publish(ctx context.Context, subject string, msgs []bus.Message) error {
	if b.closed() {
		return bus.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	batch := nuid.Next()
	todo := make([]*natsgo.Msg, len(msgs))
	for i := range msgs {
		data, err := json.Marshal(&msgs[i])
		if err != nil {
			return fmt.Errorf("encode task %s: %w", msgs[i].ID, err)
		}
		if limit := b.nc.MaxPayload() - 1024; int64(len(data)) > limit {
			return fmt.Errorf("%w: task %s is %d bytes encoded, more than the server's limit of %d", bus.ErrInvalidMessage, msgs[i].ID, len(data), limit)
		}
		m := natsgo.NewMsg(subject)
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, batch+"-"+strconv.Itoa(i))
		todo[i] = m
	}
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		failed, lastErr := b.publishOnce(ctx, todo)
		if len(failed) == 0 {
			return nil
		}
		todo = failed
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%d of %d messages unconfirmed: %w (last error: %v)", len(todo), len(msgs), ctx.Err(), lastErr)
		case <-b.ctx.Done():
			t.Stop()
			return bus.ErrClosed
		case <-t.C:
		}
	}
}

// publishOnce sends msgs and returns those not confirmed.
func (b *Bus) publishOnce(ctx context.Context, msgs []*natsgo.Msg) ([]*natsgo.Msg, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	var failed []*natsgo.Msg
	var lastErr error
	for i, m := range msgs {
		// A message is sent once per call: copy it, since the client keeps
		// the one it sent.
		c := natsgo.NewMsg(m.Subject)
		c.Data, c.Header = m.Data, m.Header
		f, err := b.js.PublishMsgAsync(c)
		if err != nil {
			lastErr = err
			failed = append(failed, msgs[i:]...)
			break
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			lastErr = err
			failed = append(failed, msgs[i])
		case <-ctx.Done():
			return msgs, ctx.Err()
		case <-b.ctx.Done():
			return msgs, bus.ErrClosed
		}
	}
	return failed, lastErr
}

// Consume implements bus.Subscriber.
func (b *Bus) Consume(ctx context.Context, queue string, opts bus.ConsumeOptions) (bus.Consumer, error) {
	if err := bus.ValidateQueue(queue); err != nil {
		return nil, fmt.Errorf("nats bus: consume: %w", err)
	}
	return b.consume(ctx, queue, opts)
}

// ConsumeDone implements bus.DoneSubscriber.
func (b *Bus) ConsumeDone(ctx context.Context, opts bus.ConsumeOptions) (bus.Consumer, error) {
	return b.consume(ctx, bus.DoneQueue, opts)
}

// durableName is group's durable consumer on queue: readable, and made
// unique by a hash, since queue names may hold dots, which consumer names
// may not.
func durableName(queue, group string) string {
	h := fnv.New32a()
	h.Write([]byte(group + "\x00" + queue))
	return fmt.Sprintf("%s_%s_%08x", group, strings.ReplaceAll(queue, ".", "_"), h.Sum32())
}

func (b *Bus) consume(ctx context.Context, queue string, opts bus.ConsumeOptions) (bus.Consumer, error) {
	if b.closed() {
		return nil, fmt.Errorf("nats bus: consume %q: %w", queue, bus.ErrClosed)
	}
	if opts.AckWait == 0 {
		opts.AckWait = b.cfg.AckWait
	}
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("nats bus: consume %q: %w", queue, err)
	}
	subject := b.subject(queue)
	name := durableName(queue, opts.Group)
	cfg := jetstream.ConsumerConfig{
		Durable:       name,
		Description:   fmt.Sprintf("loom group %s of queue %s", opts.Group, queue),
		FilterSubject: subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opts.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: b.cfg.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	cons, err := b.stream.Consumer(ctx, name)
	switch {
	case err == nil:
		// The group exists: keep where it is, take this consumer's AckWait.
		info := cons.CachedInfo()
		cfg.DeliverPolicy, cfg.OptStartSeq = info.Config.DeliverPolicy, info.Config.OptStartSeq
		if info.Config.AckWait != opts.AckWait || info.Config.MaxAckPending != cfg.MaxAckPending {
			cons, err = b.stream.UpdateConsumer(ctx, cfg)
		}
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		// A group joining a subject other groups already read starts at
		// the end: what is left there is only what those have not yet
		// acknowledged.
		others, lerr := b.hasGroups(ctx, subject)
		if lerr != nil {
			return nil, fmt.Errorf("nats bus: consume %q: %w", queue, lerr)
		}
		if others {
			cfg.DeliverPolicy = jetstream.DeliverNewPolicy
		}
		cons, err = b.stream.CreateOrUpdateConsumer(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("nats bus: consume %q as group %q: %w", queue, opts.Group, err)
	}
	c := &consumer{b: b, cons: cons, ackWait: opts.AckWait, sem: make(chan struct{}, 1), source: subject}
	c.ctx, c.cancel = context.WithCancel(b.ctx)
	return c, nil
}

// hasGroups reports whether subject has a durable consumer already.
func (b *Bus) hasGroups(ctx context.Context, subject string) (bool, error) {
	l := b.stream.ListConsumers(ctx)
	found := false
	for info := range l.Info() {
		if info.Config.FilterSubject == subject {
			found = true
		}
	}
	if err := l.Err(); err != nil {
		return false, fmt.Errorf("list consumers: %w", err)
	}
	return found, nil
}

// trimLoop removes acknowledged messages every TrimInterval until Close.
func (b *Bus) trimLoop() {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.TrimInterval)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
			_ = b.trim(b.ctx) // a failed trim is retried at the next tick
		}
	}
}

// trim purges from every subject with a group the messages all its groups
// have acknowledged.
func (b *Bus) trim(ctx context.Context) error {
	floors := map[string]uint64{}
	l := b.stream.ListConsumers(ctx)
	for info := range l.Info() {
		s := info.Config.FilterSubject
		if f, ok := floors[s]; !ok || info.AckFloor.Stream < f {
			floors[s] = info.AckFloor.Stream
		}
	}
	if err := l.Err(); err != nil {
		return err
	}
	for s, floor := range floors {
		if s == "" || floor == 0 {
			continue
		}
		if err := b.stream.Purge(ctx, jetstream.WithPurgeSubject(s), jetstream.WithPurgeSequence(floor+1)); err != nil {
			return err
		}
	}
	return nil
}

// Close implements bus.Bus: it stops the consumers, drops the connection
// and waits for the bus's goroutines.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return nil
	}
	b.closing = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
	b.nc.Close()
	return nil
}
