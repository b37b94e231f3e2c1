package loom

import (
	"context"
	"io"
)

type logWriterKey struct{}

// ContextWithLogWriter returns a context whose LogWriter is w. Executors and
// workers use it to capture what a handler writes as the log of one attempt.
func ContextWithLogWriter(ctx context.Context, w io.Writer) context.Context {
	return context.WithValue(ctx, logWriterKey{}, w)
}

// LogWriter returns where a handler writes its attempt's log: the captured
// per-attempt log when run by the engine or an executor that captures logs,
// io.Discard otherwise. Handlers may write to it freely; it is safe for
// concurrent use when the executor set it up.
func LogWriter(ctx context.Context) io.Writer {
	if w, ok := ctx.Value(logWriterKey{}).(io.Writer); ok && w != nil {
		return w
	}
	return io.Discard
}

// The streams of an attempt's log. A log keeps each piece of output with
// the stream it came from, so that readers can tell a program's errors
// from its output.
const (
	// LogStdout is a handler's (or a program's) ordinary output: what
	// LogWriter receives.
	LogStdout = "stdout"
	// LogStderr is a program's error output.
	LogStderr = "stderr"
	// LogSystem is what loom itself notes in an attempt's log, such as the
	// request an http task sent.
	LogSystem = "system"
)

// ValidLogStream reports whether s names a log stream; empty counts as
// LogStdout.
func ValidLogStream(s string) bool {
	switch s {
	case "", LogStdout, LogStderr, LogSystem:
		return true
	}
	return false
}

// LogStreamer is a log writer that keeps streams apart: Stream returns
// the writer of one of them. The engine's attempt logs are LogStreamers.
type LogStreamer interface {
	io.Writer
	Stream(name string) io.Writer
}

// LogStream returns where a handler writes its attempt's log on one
// stream (LogStdout, LogStderr or LogSystem). Where the log writer does
// not keep streams apart, every stream is the LogWriter itself.
func LogStream(ctx context.Context, stream string) io.Writer {
	w := LogWriter(ctx)
	if ls, ok := w.(LogStreamer); ok {
		return ls.Stream(stream)
	}
	return w
}

type attemptKey struct{}

// AttemptInfo describes the attempt a handler is running in.
type AttemptInfo struct {
	// RunID identifies the run (in the engine: the task id).
	RunID string
	// Attempt counts from 1.
	Attempt int
	// MaxAttempts is the most attempts the retry policy allows.
	MaxAttempts int
}

// ContextWithAttempt returns a context that carries a.
func ContextWithAttempt(ctx context.Context, a AttemptInfo) context.Context {
	return context.WithValue(ctx, attemptKey{}, a)
}

// Attempt returns the attempt a handler is running in, as set by the
// executor; ok is false outside one.
func Attempt(ctx context.Context) (a AttemptInfo, ok bool) {
	a, ok = ctx.Value(attemptKey{}).(AttemptInfo)
	return a, ok
}
