// Package redis is a task bus over Redis Streams, for an engine and workers
// on different machines.
//
// Each queue is a stream, <Prefix>ready:<queue>, and done tasks go to
// <Prefix>done; an entry's field "m" holds the task as JSON. A consumer
// group is a Redis consumer group (XGROUP CREATE ... MKSTREAM), created at
// the stream's start when it is the stream's first group, so that what was
// published before any group joined is not lost, and at its end otherwise.
//
// Receive first claims, with XAUTOCLAIM, entries of the group left
// unacknowledged past the consumer's AckWait, then reads new ones with
// XREADGROUP, blocking for at most a quarter of the AckWait (and
// Config.MaxBlock) at a time so that claims and a cancelled context are
// noticed. Ack is XACK. InProgress re-claims the entry for the same
// consumer (XCLAIM ... JUSTID), which restarts its idle time. Nack sets the
// entry's delivery time (XCLAIM ... TIME) to AckWait-minus-delay ago, so
// that the next XAUTOCLAIM of the group takes it once the delay has passed;
// the entry never leaves the group's pending list, so other groups are not
// affected. Redis sets no delivery time in the future, so an entry nacked
// with a delay longer than the AckWait also goes in a sorted set of the
// group's, <stream>:delayed:<group>, from which every Receive keeps its
// delivery time at most an AckWait before it is due.
//
// InProgress and Nack act only while the delivery is current: the bus
// keeps each delivery's deadline, and a script checks that the entry is
// still pending for the consumer that received it.
//
// Acknowledged entries are removed by a trimmer, every Config.TrimInterval,
// on the streams this bus consumes: XTRIM MINID to the oldest entry any
// group still needs (its oldest pending entry, or the first it has not
// read). Not MAXLEN: a length limit would drop entries no group has read
// when workers fall behind.
package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/loomhq/loom/bus"
)

// Defaults of Config.
const (
	// DefaultPrefix is the key prefix of a Config that sets none.
	DefaultPrefix = "loom:"
	// DefaultTrimInterval is how often acknowledged entries are removed.
	DefaultTrimInterval = 5 * time.Second
	// DefaultMaxBlock bounds one blocking read.
	DefaultMaxBlock = 250 * time.Millisecond
)

// Config configures a Bus. Only URL is required.
type Config struct {
	// URL is the Redis server, as redis.ParseURL takes it
	// ("redis://127.0.0.1:6379/0"). Required.
	URL string
	// Prefix starts every key of the bus. Buses with different prefixes on
	// one database are independent. Default DefaultPrefix ("loom:").
	Prefix string
	// AckWait is the AckWait of consumers whose ConsumeOptions set none.
	// Default bus.DefaultAckWait (30s). Consumers of one group should share
	// one AckWait: the consumer that claims an idle entry judges it by its
	// own.
	AckWait time.Duration
	// TrimInterval is how often the bus removes entries every group has
	// acknowledged. Default DefaultTrimInterval; negative turns trimming off.
	TrimInterval time.Duration
	// MaxBlock bounds one blocking read, and so how late a waiting Receive
	// notices a cancelled context or an entry to claim. Default
	// DefaultMaxBlock (250ms).
	MaxBlock time.Duration
}

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.AckWait == 0 {
		c.AckWait = bus.DefaultAckWait
	}
	if c.TrimInterval == 0 {
		c.TrimInterval = DefaultTrimInterval
	}
	if c.MaxBlock == 0 {
		c.MaxBlock = DefaultMaxBlock
	}
	return c
}

// Bus is a bus.Bus over Redis Streams. It is safe for concurrent use.
type Bus struct {
	cfg Config
	rdb *goredis.Client

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	keys map[string]bool // streams consumed here, for the trimmer
}

var _ bus.Bus = (*Bus)(nil)

// New connects to cfg.URL and checks that the server answers.
func New(ctx context.Context, cfg Config) (*Bus, error) {
	if cfg.URL == "" {
		return nil, errors.New("redis bus: Config.URL is required")
	}
	if cfg.AckWait < 0 || cfg.MaxBlock < 0 {
		return nil, errors.New("redis bus: negative AckWait or MaxBlock")
	}
	cfg = cfg.withDefaults()
	opts, err := goredis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redis bus: %w", err)
	}
	rdb := goredis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis bus: connect to %s: %w", opts.Addr, err)
	}
	b := &Bus{cfg: cfg, rdb: rdb, keys: map[string]bool{}}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	if cfg.TrimInterval > 0 {
		b.wg.Add(1)
		go b.trimLoop()
	}
	return b, nil
}

func (b *Bus) closed() bool { return b.ctx.Err() != nil }

// key is the stream of queue.
func (b *Bus) key(queue string) string {
	if queue == bus.DoneQueue {
		return b.cfg.Prefix + "done"
	}
	return b.cfg.Prefix + "ready:" + queue
}

// DeleteKeys removes every key under the bus's prefix: for tests and for
// tearing a deployment down.
func (b *Bus) DeleteKeys(ctx context.Context) error {
	iter := b.rdb.Scan(ctx, 0, b.cfg.Prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("redis bus: list keys: %w", err)
	}
	if len(keys) > 0 {
		if err := b.rdb.Del(ctx, keys...).Err(); err != nil {
			return fmt.Errorf("redis bus: delete keys: %w", err)
		}
	}
	return nil
}

// Publish implements bus.Publisher.
func (b *Bus) Publish(ctx context.Context, queue string, msgs ...bus.Message) error {
	if err := bus.ValidateQueue(queue); err != nil {
		return fmt.Errorf("redis bus: publish: %w", err)
	}
	out := make([]bus.Message, len(msgs))
	for i := range msgs {
		if err := msgs[i].ValidateReady(); err != nil {
			return fmt.Errorf("redis bus: publish to %q: %w", queue, err)
		}
		out[i] = msgs[i]
		out[i].Queue = queue
	}
	if err := b.publish(ctx, b.key(queue), out); err != nil {
		return fmt.Errorf("redis bus: publish to %q: %w", queue, err)
	}
	return nil
}

// PublishDone implements bus.DonePublisher.
func (b *Bus) PublishDone(ctx context.Context, msgs ...bus.Message) error {
	for i := range msgs {
		if err := msgs[i].ValidateDone(); err != nil {
			return fmt.Errorf("redis bus: publish done: %w", err)
		}
	}
	if err := b.publish(ctx, b.key(bus.DoneQueue), msgs); err != nil {
		return fmt.Errorf("redis bus: publish done: %w", err)
	}
	return nil
}

// publish appends msgs to key in one round trip.
func (b *Bus) publish(ctx context.Context, key string, msgs []bus.Message) error {
	if b.closed() {
		return bus.ErrClosed
	}
	if len(msgs) == 0 {
		return nil
	}
	data := make([][]byte, len(msgs))
	for i := range msgs {
		d, err := encode(&msgs[i])
		if err != nil {
			return err
		}
		data[i] = d
	}
	_, err := b.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, d := range data {
			p.XAdd(ctx, &goredis.XAddArgs{Stream: key, Values: []any{"m", d}})
		}
		return nil
	})
	return b.wrap(err)
}

// wrap turns the client's error after Close into ErrClosed.
func (b *Bus) wrap(err error) error {
	if err != nil && (b.closed() || errors.Is(err, goredis.ErrClosed)) {
		return bus.ErrClosed
	}
	return err
}

// Consume implements bus.Subscriber.
func (b *Bus) Consume(ctx context.Context, queue string, opts bus.ConsumeOptions) (bus.Consumer, error) {
	if err := bus.ValidateQueue(queue); err != nil {
		return nil, fmt.Errorf("redis bus: consume: %w", err)
	}
	return b.consume(ctx, queue, opts)
}

// ConsumeDone implements bus.DoneSubscriber.
func (b *Bus) ConsumeDone(ctx context.Context, opts bus.ConsumeOptions) (bus.Consumer, error) {
	return b.consume(ctx, bus.DoneQueue, opts)
}

func (b *Bus) consume(ctx context.Context, queue string, opts bus.ConsumeOptions) (bus.Consumer, error) {
	if b.closed() {
		return nil, fmt.Errorf("redis bus: consume %q: %w", queue, bus.ErrClosed)
	}
	if opts.AckWait == 0 {
		opts.AckWait = b.cfg.AckWait
	}
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("redis bus: consume %q: %w", queue, err)
	}
	key := b.key(queue)
	if err := createGroup.Run(ctx, b.rdb, []string{key}, opts.Group).Err(); err != nil {
		return nil, fmt.Errorf("redis bus: consume %q as group %q: %w", queue, opts.Group, b.wrap(err))
	}
	b.mu.Lock()
	b.keys[key] = true
	b.mu.Unlock()
	c := &consumer{b: b, key: key, group: opts.Group, name: opts.Name, ackWait: opts.AckWait}
	c.ctx, c.cancel = context.WithCancel(b.ctx)
	return c, nil
}

// createGroup creates group ARGV[1] on stream KEYS[1] unless it exists:
// at the stream's start if it is the first group, so that what was
// published before any group joined is delivered, at its end otherwise.
var createGroup = goredis.NewScript(`
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if not ok then groups = {} end
for _, g in ipairs(groups) do
  for i = 1, #g, 2 do
    if g[i] == 'name' and g[i+1] == ARGV[1] then return 0 end
  end
end
local start = '$'
if #groups == 0 then start = '0' end
redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], start, 'MKSTREAM')
return 1
`)

// trimLoop removes acknowledged entries every TrimInterval until Close.
func (b *Bus) trimLoop() {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.TrimInterval)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
			b.mu.Lock()
			keys := make([]string, 0, len(b.keys))
			for k := range b.keys {
				keys = append(keys, k)
			}
			b.mu.Unlock()
			for _, k := range keys {
				// A failed trim is retried at the next tick.
				_ = trimStream.Run(b.ctx, b.rdb, []string{k}).Err()
			}
		}
	}
}

// trimStream removes from stream KEYS[1] the entries before the oldest one
// a group still needs: its oldest pending entry or the one after the last
// it read.
var trimStream = goredis.NewScript(`
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if not ok or #groups == 0 then return 0 end
local floor = nil
for _, g in ipairs(groups) do
  local name, last
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i+1] end
    if g[i] == 'last-delivered-id' then last = g[i+1] end
  end
  local ms, seq = parse(last)
  local need = ms .. '-' .. (seq + 1)
  local p = redis.call('XPENDING', KEYS[1], name)
  if p[1] > 0 and less(p[2], need) then need = p[2] end
  if floor == nil or less(need, floor) then floor = need end
end
return redis.call('XTRIM', KEYS[1], 'MINID', floor)
`)

// Close implements bus.Bus.
func (b *Bus) Close() error {
	if b.closed() {
		return nil
	}
	b.cancel()
	b.wg.Wait()
	if err := b.rdb.Close(); err != nil && !errors.Is(err, goredis.ErrClosed) {
		return fmt.Errorf("redis bus: close: %w", err)
	}
	return nil
}

// isNoGroup reports the error of a read on a stream or group deleted
// meanwhile.
func isNoGroup(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOGROUP")
}
