package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// measureRSS fills an embedded engine (SQLite, in-process bus) with tasks
// ended tasks, then submits and works 1,000 tasks a second for seconds,
// and reports the process's resident memory while it does: what an
// embedded server with a long history costs in memory.
func measureRSS(ctx context.Context, w io.Writer, tasks, seconds int) error {
	p := &probe{base: time.Now()}
	sys, err := openLoomSQLite(ctx, options{}, p)
	if err != nil {
		return err
	}
	defer sys.close(context.WithoutCancel(ctx))
	fmt.Fprintf(os.Stderr, "rss: inserting %d tasks...\n", tasks)
	for i := 0; i < tasks; i += 1000 {
		if err := sys.insert(ctx, stamps(p, min(1000, tasks-i))); err != nil {
			return err
		}
	}
	if err := sys.start(ctx); err != nil {
		return err
	}
	if err := waitEnded(ctx, sys, p, tasks); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "rss: %d tasks ended; working 1,000/s for %ds...\n", tasks, seconds)
	before, _ := rssKB()
	var peak int
	next := time.Now()
	for i := 0; i < seconds*100; i++ {
		if err := sleep(ctx, time.Until(next)); err != nil {
			return err
		}
		next = next.Add(10 * time.Millisecond)
		if err := sys.insert(ctx, stamps(p, 10)); err != nil {
			return err
		}
		if i%100 == 99 {
			if kb, err := rssKB(); err == nil {
				peak = max(peak, kb)
			}
		}
	}
	if err := waitEnded(ctx, sys, p, tasks+seconds*1000); err != nil {
		return err
	}
	after, err := rssKB()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "ended tasks held\t%d\n", tasks)
	fmt.Fprintf(w, "RSS before working\t%d MB\n", before/1024)
	fmt.Fprintf(w, "RSS peak at 1,000/s\t%d MB\n", peak/1024)
	fmt.Fprintf(w, "RSS after %ds\t%d MB\n", seconds, after/1024)
	return nil
}

// rssKB is the process's resident set size in KiB, from /proc.
func rssKB() (int, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/self/status")
}
