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
