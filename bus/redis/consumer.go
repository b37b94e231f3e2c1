package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/loomhq/loom/bus"
)

func encode(m *bus.Message) ([]byte, error) {
	d, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode task %s: %w", m.ID, err)
	}
	return d, nil
}

// consumer is one consumer of a Redis consumer group.
type consumer struct {
	b       *Bus
	key     string
	group   string
	name    string
	ackWait time.Duration
	// lastClaim is when Receive last looked for entries past their
	// AckWait, in Unix nanoseconds.
	lastClaim atomic.Int64

	ctx    context.Context // cancelled by Close and by the bus's Close
	cancel context.CancelFunc
}

// Receive implements bus.Consumer.
func (c *consumer) Receive(ctx context.Context, n int) ([]bus.Delivery, error) {
	if n < 1 {
		n = 1
	}
	for {
		if c.ctx.Err() != nil {
			return nil, bus.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		block := min(c.b.cfg.MaxBlock, c.ackWait/4)
		// Look for entries past their AckWait once a block period, not at
		// every read: the scan of the group's pending entries costs the
		// server more the more are in flight, and two round trips.
		if now := time.Now().UnixNano(); now-c.lastClaim.Load() >= int64(block) {
			c.lastClaim.Store(now)
			// Entries nacked with a delay longer than the AckWait: keep
			// them from being claimed until they are due.
			if err := holdDelayed.Run(ctx, c.b.rdb, []string{c.key, c.delayedKey()}, c.group, c.ackWait.Milliseconds()).Err(); err != nil {
				return nil, c.fail(ctx, err)
			}
			claimed, _, err := c.b.rdb.XAutoClaim(ctx, &goredis.XAutoClaimArgs{
				Stream: c.key, Group: c.group, Consumer: c.name, MinIdle: c.ackWait, Start: "0-0", Count: int64(n),
			}).Result()
			if err != nil && !isNoGroup(err) {
				return nil, c.fail(ctx, err)
			}
			if len(claimed) > 0 {
				// More may be due: look again at the next read.
				c.lastClaim.Store(0)
				return c.deliveries(claimed, true)
			}
		}
		if dl, ok := ctx.Deadline(); ok {
			block = min(block, time.Until(dl))
		}
		block = max(block, time.Millisecond)
		streams, err := c.b.rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{
			Group: c.group, Consumer: c.name, Streams: []string{c.key, ">"}, Count: int64(n), Block: block,
		}).Result()
		switch {
		case errors.Is(err, goredis.Nil):
			continue
		case err != nil:
			return nil, c.fail(ctx, err)
		}
		var msgs []goredis.XMessage
		for _, s := range streams {
			msgs = append(msgs, s.Messages...)
		}
		if len(msgs) > 0 && c.ctx.Err() != nil {
			// Read as the consumer closed: hand them to the group at once.
			for _, x := range msgs {
				_ = reclaim.Run(context.Background(), c.b.rdb, []string{c.key}, c.group, c.name, x.ID, c.ackWait.Milliseconds()).Err()
			}
			return nil, bus.ErrClosed
		}
		if len(msgs) > 0 {
			return c.deliveries(msgs, false)
		}
	}
}

// fail explains an error of a read: the consumer closed, ctx done, or the
// server's.
func (c *consumer) fail(ctx context.Context, err error) error {
	switch {
	case c.ctx.Err() != nil || c.b.closed() || errors.Is(err, goredis.ErrClosed):
		return bus.ErrClosed
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("redis bus: receive from %s: %w", c.key, err)
}

// deliveries decodes msgs. An entry that does not decode is acknowledged,
// so that it does not come back, and reported as malformed.
func (c *consumer) deliveries(msgs []goredis.XMessage, redelivered bool) ([]bus.Delivery, error) {
	ds := make([]bus.Delivery, 0, len(msgs))
	var bad error
	for _, x := range msgs {
		var m bus.Message
		raw, _ := x.Values["m"].(string)
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			_ = c.b.rdb.XAck(context.Background(), c.key, c.group, x.ID).Err()
			bad = &bus.MalformedError{Source: c.key + " " + x.ID, Offset: -1, Err: err}
			continue
		}
		a := &acker{c: c, id: x.ID, deadline: time.Now().Add(c.ackWait)}
		ds = append(ds, bus.NewDelivery(m, redelivered, c.ackWait, a))
	}
	if len(ds) == 0 && bad != nil {
		return nil, bad
	}
	return ds, nil
}

// Close implements bus.Consumer.
func (c *consumer) Close() error {
	c.cancel()
	return nil
}

// acker settles one delivery.
type acker struct {
	c  *consumer
	id string

	mu       sync.Mutex
	settled  bool
	deadline time.Time // after it the delivery is stale
}

// Ack implements bus.Acknowledger.
func (a *acker) Ack(ctx context.Context) error {
	if a.c.b.closed() {
		return bus.ErrClosed
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.settled {
		return nil
	}
	if err := a.c.b.rdb.XAck(ctx, a.c.key, a.c.group, a.id).Err(); err != nil {
		return fmt.Errorf("redis bus: ack %s %s: %w", a.c.key, a.id, a.c.b.wrap(err))
	}
	a.settled = true
	return nil
}

// AckMany implements bus.ManyAcknowledger: one XACK for the deliveries of
// each consumer group among as.
func (a *acker) AckMany(ctx context.Context, as []bus.Acknowledger) []error {
	errs := make([]error, len(as))
	if a.c.b.closed() {
		for i := range errs {
			errs[i] = bus.ErrClosed
		}
		return errs
	}
	type stream struct{ key, group string }
	byStream := map[stream][]int{}
	mine := make([]*acker, len(as))
	for i, x := range as {
		o, ok := x.(*acker)
		if !ok || o.c.b != a.c.b {
			errs[i] = x.Ack(ctx)
			continue
		}
		// Settled now, so that a Nack meanwhile changes nothing; unsettled
		// again should the XACK fail.
		o.mu.Lock()
		if !o.settled {
			o.settled = true
			mine[i] = o
			k := stream{o.c.key, o.c.group}
			byStream[k] = append(byStream[k], i)
		}
		o.mu.Unlock()
	}
	for k, is := range byStream {
		ids := make([]string, len(is))
		for j, i := range is {
			ids[j] = mine[i].id
		}
		if err := a.c.b.rdb.XAck(ctx, k.key, k.group, ids...).Err(); err != nil {
			err = fmt.Errorf("redis bus: ack %d entries of %s: %w", len(ids), k.key, a.c.b.wrap(err))
			for _, i := range is {
				mine[i].mu.Lock()
				mine[i].settled = false
				mine[i].mu.Unlock()
				errs[i] = err
			}
		}
	}
	return errs
}

var _ bus.ManyAcknowledger = (*acker)(nil)

// Nack implements bus.Acknowledger.
func (a *acker) Nack(ctx context.Context, delay time.Duration) error {
	if a.c.b.closed() {
		return bus.ErrClosed
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.settled {
		return nil
	}
	a.settled = true
	if time.Now().After(a.deadline) {
		return nil
	}
	// The entry's delivery time goes back so that it has been idle for the
	// AckWait when delay has passed. Redis sets no delivery time in the
	// future: a longer delay waits in the group's delayed set, which
	// Receive keeps holding back until it is due.
	var err error
	if delay > a.c.ackWait {
		err = delayEntry.Run(ctx, a.c.b.rdb, []string{a.c.key, a.c.delayedKey()}, a.c.group, a.c.name, a.id, delay.Milliseconds()).Err()
	} else {
		back := a.c.ackWait - max(delay, 0)
		err = reclaim.Run(ctx, a.c.b.rdb, []string{a.c.key}, a.c.group, a.c.name, a.id, back.Milliseconds()).Err()
	}
	if err != nil {
		return fmt.Errorf("redis bus: nack %s %s: %w", a.c.key, a.id, a.c.b.wrap(err))
	}
	return nil
}

// delayedKey is the sorted set of the group's entries nacked with a delay
// longer than the AckWait, scored by when they are due.
func (c *consumer) delayedKey() string {
	return c.key + ":delayed:" + c.group
}

// delayEntry puts entry ARGV[3], held by consumer ARGV[2] of group ARGV[1]
// on stream KEYS[1], in the delayed set KEYS[2], due ARGV[4] milliseconds
// from now, and restarts its idle time.
var delayEntry = goredis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[3])
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
`)

// holdDelayed keeps the entries of delayed set KEYS[2] (of group ARGV[1]
// on stream KEYS[1]) from being claimed before they are due, by setting
// their delivery time to at most an AckWait (ARGV[2] milliseconds) before
// it; due ones, and ones no longer pending, leave the set.
var holdDelayed = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = tonumber(ARGV[2])
local due = redis.call('ZRANGE', KEYS[2], 0, 999, 'WITHSCORES')
for i = 1, #due, 2 do
  local id, at = due[i], tonumber(due[i+1])
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  if #p == 0 then
    redis.call('ZREM', KEYS[2], id)
  else
    local when = math.min(now, at - wait)
    redis.call('XCLAIM', KEYS[1], ARGV[1], p[1][2], 0, id, 'TIME', when, 'JUSTID')
    if at <= now then redis.call('ZREM', KEYS[2], id) end
  end
end
return 0
`)

// InProgress implements bus.Acknowledger.
func (a *acker) InProgress(ctx context.Context) error {
	if a.c.b.closed() {
		return bus.ErrClosed
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.settled || time.Now().After(a.deadline) {
		return nil
	}
	now := time.Now()
	res, err := reclaim.Run(ctx, a.c.b.rdb, []string{a.c.key}, a.c.group, a.c.name, a.id, 0).Int()
	if err != nil {
		return fmt.Errorf("redis bus: extend delivery %s %s: %w", a.c.key, a.id, a.c.b.wrap(err))
	}
	if res == 1 {
		a.deadline = now.Add(a.c.ackWait)
	}
	return nil
}

// reclaim sets the delivery time of entry ARGV[3] of group ARGV[1] on
// stream KEYS[1] to ARGV[4] milliseconds ago, if consumer ARGV[2] still
// holds it; it returns 1 if it did. XCLAIM ... JUSTID leaves the delivery
// count alone.
var reclaim = goredis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'TIME', now - tonumber(ARGV[4]), 'JUSTID')
return 1
`)
