package engine

import (
	"context"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Span names and attributes of the engine's traces. A task's submit span
// (a flow's is its flow span) is the parent of its attempts' spans, which
// workers on any machine start from the traceparent the task carries; a
// flow's steps carry their flow's, so their attempts are its children.
const (
	spanSubmit  = "loom.submit "
	spanFlow    = "loom.flow "
	spanAttempt = "loom.attempt "

	attrTaskID   = attribute.Key("loom.task.id")
	attrType     = attribute.Key("loom.task.type")
	attrQueue    = attribute.Key("loom.queue")
	attrAttempt  = attribute.Key("loom.attempt")
	attrExisting = attribute.Key("loom.task.existing")
)

// startSubmitSpan starts the span of t's submit, as a child of the span in
// ctx, and records its context on t for the attempts to continue.
func (e *Engine) startSubmitSpan(ctx context.Context, t *loom.TaskInfo) trace.Span {
	name := spanSubmit + t.Type
	if reg := e.lookup(t.Type); reg != nil && reg.flow != nil {
		name = spanFlow + t.Type
	}
	ctx, span := e.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attrType.String(t.Type), attrQueue.String(t.Queue)))
	t.TraceParent = telemetry.TraceParent(ctx)
	return span
}

// endSubmitSpan ends a submit's span with the task the store answered.
func endSubmitSpan(span trace.Span, r store.InsertResult) {
	if span.IsRecording() && r.Task != nil {
		span.SetAttributes(attrTaskID.String(r.Task.ID), attrExisting.Bool(r.Existing))
	}
	span.End()
}

// endSpans ends spans whose work failed with err.
func endSpans(spans []trace.Span, err error) {
	for _, s := range spans {
		endSpan(s, err)
	}
}

// endSpan ends span, marking it failed when err is not nil.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// startAttemptSpan starts the span of the attempt m carries, as the child
// of the span its TraceParent names.
func startAttemptSpan(ctx context.Context, tracer trace.Tracer, m *bus.Message) (context.Context, trace.Span) {
	ctx = telemetry.WithTraceParent(ctx, m.TraceParent)
	return tracer.Start(ctx, spanAttempt+m.Type, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attrTaskID.String(m.ID), attrType.String(m.Type), attrQueue.String(m.Queue), attrAttempt.Int(m.Attempt)))
}

// logContext is the context a worker logs about m's attempt with: a
// telemetry.LogHandler adds its task id, attempt and trace id to the line
// (the lines name the task as "task" too, for loggers without one).
func logContext(m *bus.Message) context.Context {
	ctx := telemetry.WithTraceParent(context.Background(), m.TraceParent)
	return loom.ContextWithAttempt(ctx, loom.AttemptInfo{RunID: m.ID, Attempt: m.Attempt, MaxAttempts: m.MaxAttempts})
}
