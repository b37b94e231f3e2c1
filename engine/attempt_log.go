package engine

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// maxChunk bounds how much output one stored log chunk holds.
const maxChunk = 64 << 10

// logBuffer collects what handlers write to their attempt log and appends
// it to the store in batches: every LogFlushInterval, and before outcomes
// are recorded, so a task's log is complete once it has ended.
type logBuffer struct {
	e       *Engine
	mu      sync.Mutex
	pending []store.LogChunk
	flushMu sync.Mutex
}

func newLogBuffer(e *Engine) *logBuffer { return &logBuffer{e: e} }

// writer returns the log writer of one attempt: its stdout, and through
// loom.LogStream its other streams.
func (b *logBuffer) writer(id string, attempt int) io.Writer {
	return &attemptLog{b: b, id: id, attempt: attempt, stream: loom.LogStdout}
}

type attemptLog struct {
	b       *logBuffer
	id      string
	attempt int
	stream  string
}

// Stream returns the writer of the attempt's log on another stream; an
// unknown stream name is stdout.
func (w *attemptLog) Stream(name string) io.Writer {
	if !loom.ValidLogStream(name) || name == "" {
		name = loom.LogStdout
	}
	return &attemptLog{b: w.b, id: w.id, attempt: w.attempt, stream: name}
}

// Write buffers p as output of the attempt. It never fails: a store that
// cannot take logs must not fail the task.
func (w *attemptLog) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b := w.b
	now := b.e.clock.Now()
	b.mu.Lock()
	if n := len(b.pending); n > 0 {
		last := &b.pending[n-1]
		if last.TaskID == w.id && last.Attempt == w.attempt && last.Stream == w.stream && len(last.Data)+len(p) <= maxChunk {
			last.Data += string(p)
			b.mu.Unlock()
			return len(p), nil
		}
	}
	b.pending = append(b.pending, store.LogChunk{TaskID: w.id, Attempt: w.attempt, Time: now, Stream: w.stream, Data: string(p)})
	b.mu.Unlock()
	return len(p), nil
}

// flush appends everything buffered so far to the store.
func (b *logBuffer) flush(ctx context.Context) {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	chunks := b.pending
	b.pending = nil
	b.mu.Unlock()
	if len(chunks) == 0 {
		return
	}
	observe := b.e.cfg.Metrics.StoreOp("AppendLogs")
	err := b.e.store.AppendLogs(ctx, chunks)
	observe(err)
	if err != nil {
		b.e.logger.Error("engine: append attempt logs", "chunks", len(chunks), "err", err)
	}
}

// run flushes periodically until ctx is done, then once more.
func (b *logBuffer) run(ctx context.Context) {
	for {
		// Output waits in memory for real time, whatever the clock.
		t := time.NewTimer(b.e.cfg.LogFlushInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			b.flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
			b.flush(ctx)
			// Handlers that started while no outcome was recorded.
			b.e.markStarted(ctx, b.e.starts.take())
		}
	}
}
