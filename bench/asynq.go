package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// asynqConcurrency is how many handlers the Asynq server runs at once.
const asynqConcurrency = 100

// asynqSystem is Asynq on the Redis database of LOOM_TEST_REDIS_URL, in a
// queue of the run's own, deleted afterwards.
type asynqSystem struct {
	opt    asynq.RedisConnOpt
	client *asynq.Client
	server *asynq.Server
	insp   *asynq.Inspector
	queue  string
	p      *probe
	total  int
}

func openAsynq(ctx context.Context, o options, p *probe) (system, error) {
	opt, err := asynq.ParseRedisURI(o.redisURL)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	a := &asynqSystem{opt: opt, queue: "bench_" + runID(), p: p}
	a.client = asynq.NewClient(opt)
	a.insp = asynq.NewInspector(opt)
	return a, nil
}

// insert enqueues one task a call, as Asynq has no batch insert, from a
// few goroutines at once.
func (a *asynqSystem) insert(ctx context.Context, stamps []int64) error {
	const par = 8
	var wg sync.WaitGroup
	errs := make([]error, par)
	for g := range min(par, len(stamps)) {
		wg.Go(func() {
			for i := g; i < len(stamps); i += par {
				payload := binary.BigEndian.AppendUint64(nil, uint64(stamps[i]))
				if _, err := a.client.EnqueueContext(ctx, asynq.NewTask("bench:noop", payload), asynq.Queue(a.queue), asynq.MaxRetry(0)); err != nil {
					errs[g] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	a.total += len(stamps)
	return nil
}

func (a *asynqSystem) start(context.Context) error {
	a.server = asynq.NewServer(a.opt, asynq.Config{
		Concurrency: asynqConcurrency,
		Queues:      map[string]int{a.queue: 1},
		LogLevel:    asynq.FatalLevel,
		// Look for new tasks as often as River's benchmark does
		// (FetchCooldown), instead of every second when idle.
		TaskCheckInterval: 2 * time.Millisecond,
	})
	return a.server.Start(asynq.HandlerFunc(func(_ context.Context, t *asynq.Task) error {
		a.p.worked(int64(binary.BigEndian.Uint64(t.Payload())))
		return nil
	}))
}

// ended checks that the queue holds nothing: Asynq deletes a task once it
// is done.
func (a *asynqSystem) ended(context.Context, int) (bool, error) {
	q, err := a.insp.GetQueueInfo(a.queue)
	if err != nil {
		return false, err
	}
	return q.Size == 0 && q.Active == 0, nil
}

func (a *asynqSystem) close(ctx context.Context) error {
	if a.server != nil {
		a.server.Shutdown()
	}
	err := a.insp.DeleteQueue(a.queue, true)
	if errors.Is(err, asynq.ErrQueueNotFound) {
		err = nil
	}
	// The queue's daily counters outlive DeleteQueue.
	rdb, ok := a.opt.MakeRedisClient().(redis.UniversalClient)
	if ok {
		iter := rdb.Scan(ctx, 0, "asynq:{"+a.queue+"}*", 1000).Iterator()
		for iter.Next(ctx) {
			if derr := rdb.Del(ctx, iter.Val()).Err(); err == nil {
				err = derr
			}
		}
		if ierr := iter.Err(); err == nil {
			err = ierr
		}
		_ = rdb.Close()
	}
	_ = a.client.Close()
	_ = a.insp.Close()
	return err
}
