package engine_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/loomtest"
	"github.com/loomhq/loom/store/sqlite"
)

// The retention soak runs a steady load (rate tasks submitted and worked
// every second) on an engine with retention on, on a fake clock that
// compresses minutes of load into seconds, sampling the SQLite database's
// size as it goes: once the oldest ended tasks are past their retention,
// each pass deletes about as many as were added since the last, and the
// database stops growing. Run the benchmark with
//
//	go test ./engine -run '^$' -bench RetentionSoak -benchtime 1x
//
// and the test (small numbers, checked on page counts) with
//
//	go test ./engine -run TestRetentionSoak

// soakParams shape one soak.
type soakParams struct {
	// rate is how many tasks are submitted, and run, each virtual second.
	rate int
	// duration is how long the load lasts, in virtual time.
	duration time.Duration
	// retain is the engine's Retain (0: retention off, the baseline);
	// interval its RetainInterval.
	retain, interval time.Duration
	// sampleEvery is how often, in virtual time, the size is sampled.
	sampleEvery time.Duration
}

// soakSample is the database's size at one moment of a soak.
type soakSample struct {
	at time.Duration // virtual time since the load began
	// pages is SQLite's page_count, free its freelist_count: pages-free
	// pages hold data.
	pages, free int64
	// fileBytes and walBytes are the sizes of the database file and its
	// write-ahead log.
	fileBytes, walBytes int64
}

func (s soakSample) used() int64 { return s.pages - s.free }

func (s soakSample) String() string {
	return fmt.Sprintf("t=%-5s pages=%-6d free=%-5d used=%-6d file=%-8d wal=%d", s.at, s.pages, s.free, s.used(), s.fileBytes, s.walBytes)
}

// soakPayload is each task's input: a realistic few hundred bytes.
var soakPayload = strings.Repeat("payload ", 32)

// runSoak runs one soak and returns its samples, in time order.
func runSoak(tb testing.TB, p soakParams) []soakSample {
	tb.Helper()
	ctx := context.Background()
	path := filepath.Join(tb.TempDir(), "soak.db")
	st, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	// A second connection reads the sizes, as another process would.
	probe, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer probe.Close()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := loomtest.NewFakeClock(start)
	e, err := engine.New(engine.Config{
		Store: st, Clock: clock, Workers: 4, Retain: p.retain, RetainInterval: p.interval,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	work := loom.NewTask("soak", loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		fmt.Fprintf(loom.LogWriter(ctx), "worked on %d bytes\n", len(fmt.Sprint(in["data"])))
		return loom.Values{"ok": true}, nil
	}))
	if err := e.Register(work); err != nil {
		tb.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- e.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-ran; err != nil {
			tb.Errorf("Run: %v", err)
		}
		_ = e.Close()
	}()

	sample := func(at time.Duration) soakSample {
		s := soakSample{at: at}
		if err := probe.QueryRow(`PRAGMA page_count`).Scan(&s.pages); err != nil {
			tb.Fatal(err)
		}
		if err := probe.QueryRow(`PRAGMA freelist_count`).Scan(&s.free); err != nil {
			tb.Fatal(err)
		}
		if fi, err := os.Stat(path); err == nil {
			s.fileBytes = fi.Size()
		}
		if fi, err := os.Stat(path + "-wal"); err == nil {
			s.walBytes = fi.Size()
		}
		return s
	}
	var samples []soakSample
	ps := make([]*engine.SubmitParams, p.rate)
	for i := range ps {
		ps[i] = &engine.SubmitParams{Type: "soak", Input: loom.Values{"data": soakPayload}}
	}
	for at := time.Duration(0); at < p.duration; at += time.Second {
		res, err := e.SubmitMany(ctx, ps)
		if err != nil {
			tb.Fatal(err)
		}
		// The second's tasks run before the clock moves on: the load is
		// steady in virtual time however slow the machine is.
		done := make(chan error, 1)
		go func() {
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			for _, r := range res {
				if _, err := e.Wait(wctx, r.Task.ID); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	wait:
		for {
			select {
			case err := <-done:
				if err != nil {
					tb.Fatalf("tasks of second %s: %v", at, err)
				}
				break wait
			case <-time.After(20 * time.Millisecond):
				// Pollers that sleep on the clock get a nudge, within
				// the second.
				if clock.Now().Before(start.Add(at + 900*time.Millisecond)) {
					clock.Advance(50 * time.Millisecond)
				}
			}
		}
		clock.Set(start.Add(at + time.Second))
		if (at+time.Second)%p.sampleEvery == 0 {
			samples = append(samples, sample(at+time.Second))
		}
	}
	return samples
}

// TestRetentionSoak: under steady load with retention on, the pages that
// hold data stop growing once the retention window has passed (and the
// file with them, the freed pages being reused), while without retention
// they keep growing.
func TestRetentionSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("a soak of 1200 tasks")
	}
	t.Parallel()
	p := soakParams{rate: 5, duration: 120 * time.Second, retain: 20 * time.Second, interval: 5 * time.Second, sampleEvery: 10 * time.Second}
	kept := runSoak(t, p)
	p.retain = 0
	grown := runSoak(t, p)
	for i := range kept {
		t.Logf("retain 20s: %s | no retention: %s", kept[i], grown[i])
	}
	// Steady from twice the window and its pass on: tasks are deleted as
	// fast as they come.
	steadyFrom := 2 * (20*time.Second + p.interval)
	var first soakSample
	for _, s := range kept {
		if s.at >= steadyFrom {
			first = s
			break
		}
	}
	last := kept[len(kept)-1]
	if first.pages == 0 {
		t.Fatalf("no sample at %s or later", steadyFrom)
	}
	// The load ran 120s; from 50s to 120s more tasks again were added
	// than in all before. A database that keeps them grows by about that; one that
	// prunes stays within a few passes' worth.
	if float64(last.used()) > 1.25*float64(first.used()) {
		t.Errorf("pages in use grew from %d at %s to %d at %s with retention on", first.used(), first.at, last.used(), last.at)
	}
	if float64(last.pages) > 1.25*float64(first.pages) {
		t.Errorf("the database grew from %d pages at %s to %d at %s with retention on", first.pages, first.at, last.pages, last.at)
	}
	var gFirst soakSample
	for _, s := range grown {
		if s.at == first.at {
			gFirst = s
		}
	}
	gLast := grown[len(grown)-1]
	if float64(gLast.used()) < 1.5*float64(gFirst.used()) {
		t.Errorf("without retention pages in use went only from %d to %d: the load is too small to tell", gFirst.used(), gLast.used())
	}
}

// BenchmarkRetentionSoak runs 20 tasks a second for 20 virtual minutes
// with a 5-minute retention checked every minute (and, for comparison,
// without retention), and reports the database's size at the start of the
// steady state, half-way and at the end: in-use pages (page_count -
// freelist_count), the file and the WAL in bytes.
func BenchmarkRetentionSoak(b *testing.B) {
	for _, retain := range []time.Duration{5 * time.Minute, 0} {
		name := "retain=" + retain.String()
		if retain == 0 {
			name = "retain=off"
		}
		b.Run(name, func(b *testing.B) {
			p := soakParams{rate: 20, duration: 20 * time.Minute, retain: retain, interval: time.Minute, sampleEvery: time.Minute}
			var samples []soakSample
			for range b.N {
				samples = runSoak(b, p)
			}
			for _, s := range samples {
				b.Logf("%s", s)
			}
			steady := 2 * (5*time.Minute + time.Minute)
			var start soakSample
			for _, s := range samples {
				if s.at >= steady {
					start = s
					break
				}
			}
			mid, end := samples[(len(samples)-1+indexOf(samples, start))/2], samples[len(samples)-1]
			for _, m := range []struct {
				s    soakSample
				name string
			}{{start, "start"}, {mid, "mid"}, {end, "end"}} {
				b.ReportMetric(float64(m.s.used()), m.name+"-used-pages")
				b.ReportMetric(float64(m.s.fileBytes), m.name+"-file-bytes")
				b.ReportMetric(float64(m.s.walBytes), m.name+"-wal-bytes")
			}
			if start.used() > 0 {
				b.ReportMetric(float64(end.used())/float64(start.used()), "end/start-used")
			}
		})
	}
}

// indexOf is the position of s in samples, by time.
func indexOf(samples []soakSample, s soakSample) int {
	for i := range samples {
		if samples[i].at == s.at {
			return i
		}
	}
	return 0
}
