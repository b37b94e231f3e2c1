package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// system is one queue under test. Each task it inserts carries a stamp,
// the nanoseconds since the run's base time at which it was submitted;
// its no-op handler hands the stamp to the probe the system was opened
// with.
type system interface {
	// insert creates one task per stamp, in as few calls as the system
	// allows.
	insert(ctx context.Context, stamps []int64) error
	// start starts working tasks in the background.
	start(ctx context.Context) error
	// ended reports whether at least n tasks are recorded as done.
	ended(ctx context.Context, n int) (bool, error)
	// close stops working and removes everything the system wrote.
	close(ctx context.Context) error
}

// opener opens a system whose handlers call p.worked.
type opener func(ctx context.Context, o options, p *probe) (system, error)

// openers are the systems by name.
var openers = map[string]opener{
	"loom-sqlite":   openLoomSQLite,
	"loom-postgres": openLoomPostgres,
	"loom-redis":    openLoomRedis,
	"loom-nats":     openLoomNATS,
	"river":         openRiver,
	"asynq":         openAsynq,
}

// probe is what the handlers report to: how many tasks they worked and,
// while recording, each one's submit-to-start latency.
type probe struct {
	base   time.Time
	count  atomic.Int64
	record atomic.Bool
	lat    atomic.Pointer[[]int64]
	next   atomic.Int64
}

// now is the stamp of this moment.
func (p *probe) now() int64 { return int64(time.Since(p.base)) }

// worked is called by every handler with its task's stamp.
func (p *probe) worked(stamp int64) {
	if p.record.Load() {
		d := p.now() - stamp
		if lat, i := *p.lat.Load(), p.next.Add(1)-1; int(i) < len(lat) {
			lat[i] = d
		}
	}
	p.count.Add(1)
}

// recordLatency starts keeping up to n latencies, forgetting earlier ones.
func (p *probe) recordLatency(n int) {
	lat := make([]int64, n)
	p.lat.Store(&lat)
	p.next.Store(0)
	p.record.Store(true)
}

// percentiles stops recording and returns the p50 and p99 of what was
// recorded.
func (p *probe) percentiles() (p50, p99 time.Duration) {
	p.record.Store(false)
	all := *p.lat.Load()
	lat := all[:min(int(p.next.Load()), len(all))]
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	return time.Duration(lat[len(lat)/2]), time.Duration(lat[min(len(lat)-1, len(lat)*99/100)])
}

// row is one system's results.
type row struct {
	name                   string
	err                    error
	insertPerSec           float64
	batchPerSec            float64
	contPerSec             float64
	contP50, contP99       time.Duration
	idleP50, idleP99       time.Duration
	batchTime, contTime    time.Duration
	idleSamples, contTasks int
}

// runAll runs every chosen system one after the other, logging progress
// to log. A system that fails to open or run gets a row with its error;
// the error returned says which failed.
func runAll(ctx context.Context, o options, log io.Writer) ([]row, error) {
	var rows []row
	var errs []error
	for _, name := range systemNames {
		if o.only != nil && !o.only[name] {
			continue
		}
		fmt.Fprintf(log, "%s: %d tasks...\n", name, o.n)
		r := runOne(ctx, o, name)
		if r.err != nil {
			fmt.Fprintf(log, "%s: %v\n", name, r.err)
			errs = append(errs, fmt.Errorf("%s: %w", name, r.err))
		} else {
			fmt.Fprintf(log, "%s: batch %.0f/s, continuous %.0f/s\n", name, r.batchPerSec, r.contPerSec)
		}
		rows = append(rows, r)
		if ctx.Err() != nil {
			break
		}
	}
	return rows, errors.Join(errs...)
}

// runOne runs the three phases on a fresh instance of one system.
func runOne(ctx context.Context, o options, name string) (r row) {
	r.name = name
	p := &probe{base: time.Now()}
	sys, err := openers[name](ctx, o, p)
	if err != nil {
		r.err = fmt.Errorf("open: %w", err)
		return r
	}
	defer func() {
		if err := sys.close(context.WithoutCancel(ctx)); err != nil && r.err == nil {
			r.err = fmt.Errorf("close: %w", err)
		}
	}()

	// Batch: insert everything, then work it down.
	begin := time.Now()
	for i := 0; i < o.n; i += 1000 {
		if err := sys.insert(ctx, stamps(p, min(1000, o.n-i))); err != nil {
			r.err = fmt.Errorf("insert: %w", err)
			return r
		}
	}
	r.insertPerSec = float64(o.n) / time.Since(begin).Seconds()
	begin = time.Now()
	if err := sys.start(ctx); err != nil {
		r.err = fmt.Errorf("start: %w", err)
		return r
	}
	if err := waitEnded(ctx, sys, p, o.n); err != nil {
		r.err = fmt.Errorf("batch: %w", err)
		return r
	}
	r.batchTime = time.Since(begin)
	r.batchPerSec = float64(o.n) / r.batchTime.Seconds()

	// Continuous: insert while working, a bounded backlog waiting.
	const backlog = 2000
	r.contTasks = o.n
	p.recordLatency(o.n)
	begin = time.Now()
	base := p.count.Load()
	for i := 0; i < o.n; i += 100 {
		for int64(i)-(p.count.Load()-base) > backlog {
			if err := sleep(ctx, 100*time.Microsecond); err != nil {
				r.err = err
				return r
			}
		}
		if err := sys.insert(ctx, stamps(p, min(100, o.n-i))); err != nil {
			r.err = fmt.Errorf("continuous insert: %w", err)
			return r
		}
	}
	if err := waitEnded(ctx, sys, p, 2*o.n); err != nil {
		r.err = fmt.Errorf("continuous: %w", err)
		return r
	}
	r.contTime = time.Since(begin)
	r.contPerSec = float64(o.n) / r.contTime.Seconds()
	r.contP50, r.contP99 = p.percentiles()

	// Idle latency: one task at a time, paced.
	if o.latency > 0 {
		r.idleSamples = o.latency
		p.recordLatency(o.latency)
		pace := time.Second / 200
		next := time.Now()
		for range o.latency {
			if err := sleep(ctx, time.Until(next)); err != nil {
				r.err = err
				return r
			}
			next = next.Add(pace)
			if err := sys.insert(ctx, []int64{p.now()}); err != nil {
				r.err = fmt.Errorf("latency insert: %w", err)
				return r
			}
		}
		if err := waitEnded(ctx, sys, p, 2*o.n+o.latency); err != nil {
			r.err = fmt.Errorf("latency: %w", err)
			return r
		}
		r.idleP50, r.idleP99 = p.percentiles()
	}
	return r
}

// stamps returns n stamps of this moment.
func stamps(p *probe, n int) []int64 {
	s := make([]int64, n)
	now := p.now()
	for i := range s {
		s[i] = now
	}
	return s
}

// waitEnded waits until the handlers have worked n tasks and the system
// records n tasks done. Nothing polls the system before its handlers are
// through, so the wait costs it nothing while it works.
func waitEnded(ctx context.Context, sys system, p *probe, n int) error {
	stall := time.Now()
	last := p.count.Load()
	for p.count.Load() < int64(n) {
		if err := sleep(ctx, 200*time.Microsecond); err != nil {
			return err
		}
		if c := p.count.Load(); c != last {
			last, stall = c, time.Now()
		} else if time.Since(stall) > time.Minute {
			return fmt.Errorf("stalled: %d of %d tasks worked", c, n)
		}
	}
	for begin := time.Now(); ; {
		ok, err := sys.ended(ctx, n)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Since(begin) > time.Minute {
			return fmt.Errorf("stalled: %d tasks worked but not all recorded", n)
		}
		if err := sleep(ctx, time.Millisecond); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// printTable writes the rows with each rate's ratio to River's.
func printTable(w io.Writer, rows []row, n int) {
	var river *row
	for i := range rows {
		if rows[i].name == "river" && rows[i].err == nil {
			river = &rows[i]
		}
	}
	ratio := func(v float64, of func(*row) float64) string {
		if river == nil || of(river) == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", v/of(river))
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/1e6) }
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "system\tinserted/s\tbatch worked/s\t×River\tcontinuous worked/s\t×River\tcont p50 ms\tcont p99 ms\tidle p50 ms\tidle p99 ms\t\n")
	var failed []row
	for _, r := range rows {
		if r.err != nil {
			failed = append(failed, r)
			continue
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t\n", r.name, r.insertPerSec,
			r.batchPerSec, ratio(r.batchPerSec, func(r *row) float64 { return r.batchPerSec }),
			r.contPerSec, ratio(r.contPerSec, func(r *row) float64 { return r.contPerSec }),
			ms(r.contP50), ms(r.contP99), ms(r.idleP50), ms(r.idleP99))
	}
	_ = tw.Flush()
	for _, r := range failed {
		fmt.Fprintf(w, "%s: %v\n", r.name, r.err)
	}
	fmt.Fprintf(w, "n=%d tasks per phase\n", n)
}
