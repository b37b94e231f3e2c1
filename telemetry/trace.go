package telemetry

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of loom's spans.
const TracerName = "github.com/loomhq/loom"

// TraceParentHeader is the W3C Trace Context header (and the field of a
// task and a bus message) that carries a span's context between processes.
const TraceParentHeader = "traceparent"

// Tracer returns loom's tracer of tp, or of OpenTelemetry's global
// provider when tp is nil (a no-op until one is installed).
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(TracerName)
}

// propagator reads and writes traceparent (and tracestate) whatever global
// propagator is installed: loom always carries the W3C context.
var propagator = propagation.TraceContext{}

// TraceParent returns the W3C traceparent of the span in ctx, or "" when
// ctx has no valid span.
func TraceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c[TraceParentHeader]
}

// WithTraceParent returns ctx with the span context traceparent names as
// its remote parent; ctx itself when traceparent is empty or malformed.
func WithTraceParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{TraceParentHeader: traceparent})
}

// Inject writes the traceparent of the span in ctx into a carrier such as
// an HTTP request's headers (propagation.HeaderCarrier).
func Inject(ctx context.Context, c propagation.TextMapCarrier) {
	propagator.Inject(ctx, c)
}
