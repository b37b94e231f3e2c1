package telemetry_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/telemetry"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TestTracingEnabled: export is on only when the OTEL_* variables ask
// for it, and an exporter or protocol loom lacks is an error.
func TestTracingEnabled(t *testing.T) {
	tests := []struct {
		env     map[string]string
		on      bool
		unknown bool
	}{
		{env: nil},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, on: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, on: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}},
		{env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, unknown: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, unknown: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, on: true},
	}
	for _, tt := range tests {
		on, err := telemetry.TracingEnabled(func(k string) string { return tt.env[k] })
		if on != tt.on || errors.Is(err, telemetry.ErrUnsupportedExporter) != tt.unknown {
			t.Errorf("%v: on %v, err %v; want on %v, unsupported %v", tt.env, on, err, tt.on, tt.unknown)
		}
	}
	shutdown, on, err := telemetry.SetupTracing(context.Background(), func(string) string { return "" }, "loom")
	if on || err != nil || shutdown(context.Background()) != nil {
		t.Errorf("SetupTracing without variables: on %v, err %v", on, err)
	}
}

// TestLogHandler adds the attempt and trace of the context, and nothing
// to a line logged without them.
func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	logger, err := telemetry.NewLogger(&buf, telemetry.LogFormatText)
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("plain")
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "s")
	defer span.End()
	ctx = loom.ContextWithAttempt(ctx, loom.AttemptInfo{RunID: "task-1", Attempt: 2})
	logger.With("k", "v").InfoContext(ctx, "in attempt")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || strings.Contains(lines[0], "task_id") || strings.Contains(lines[0], "trace_id") {
		t.Fatalf("lines: %q", lines)
	}
	for _, want := range []string{"k=v", "task_id=task-1", "attempt=2", "trace_id=" + span.SpanContext().TraceID().String(), "span_id="} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("%q lacks %q", lines[1], want)
		}
	}
	if telemetry.TraceParent(ctx) == "" || telemetry.TraceParent(context.Background()) != "" {
		t.Error("TraceParent: want one for a span, none without")
	}
	if _, err := telemetry.NewLogger(&buf, "xml"); err == nil {
		t.Error("log format xml accepted")
	}
}
