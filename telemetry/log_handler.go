package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/loomhq/loom"
	"go.opentelemetry.io/otel/trace"
)

// The attributes LogHandler adds.
const (
	LogTaskID  = "task_id"
	LogAttempt = "attempt"
	LogTraceID = "trace_id"
	LogSpanID  = "span_id"
)

// LogHandler is a slog.Handler that adds, to every record logged with a
// context (slog's *Context methods), the task id and attempt of the
// attempt the context runs (loom.Attempt) and the trace and span id of
// its span, each only when there is one.
type LogHandler struct {
	next slog.Handler
}

var _ slog.Handler = (*LogHandler)(nil)

// NewLogHandler returns a LogHandler that passes records on to next.
func NewLogHandler(next slog.Handler) *LogHandler { return &LogHandler{next: next} }

// Enabled reports whether next handles level.
func (h *LogHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle adds the context's task, attempt and trace to r and passes it on.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx == nil {
		return h.next.Handle(ctx, r)
	}
	var attrs []slog.Attr
	if a, ok := loom.Attempt(ctx); ok && a.RunID != "" {
		attrs = append(attrs, slog.String(LogTaskID, a.RunID), slog.Int(LogAttempt, a.Attempt))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String(LogTraceID, sc.TraceID().String()), slog.String(LogSpanID, sc.SpanID().String()))
	}
	if len(attrs) > 0 {
		// A copy: the caller's record may share its attributes' storage.
		r = r.Clone()
		r.AddAttrs(attrs...)
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a LogHandler over next.WithAttrs(attrs).
func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &LogHandler{next: h.next.WithAttrs(attrs)}
}

// WithGroup returns a LogHandler over next.WithGroup(name).
func (h *LogHandler) WithGroup(name string) slog.Handler {
	return &LogHandler{next: h.next.WithGroup(name)}
}

// Log formats NewLogger writes.
const (
	LogFormatText = "text"
	LogFormatJSON = "json"
)

// NewLogger returns a logger writing to w in format (LogFormatText, the
// default when empty, or LogFormatJSON) through a LogHandler.
func NewLogger(w io.Writer, format string) (*slog.Logger, error) {
	var h slog.Handler
	switch format {
	case "", LogFormatText:
		h = slog.NewTextHandler(w, nil)
	case LogFormatJSON:
		h = slog.NewJSONHandler(w, nil)
	default:
		return nil, fmt.Errorf("log format %q: want %s or %s", format, LogFormatText, LogFormatJSON)
	}
	return slog.New(NewLogHandler(h)), nil
}
