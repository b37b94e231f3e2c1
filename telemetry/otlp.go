package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// ErrUnsupportedExporter is what SetupTracing returns when the
// environment asks for an exporter or protocol loom does not build in.
var ErrUnsupportedExporter = errors.New("telemetry: unsupported trace exporter")

// TracingEnabled reports whether the OpenTelemetry variables in getenv ask
// for traces to be exported: OTEL_TRACES_EXPORTER is "otlp", or it is
// unset and an OTLP endpoint is (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); never with OTEL_SDK_DISABLED=true
// or OTEL_TRACES_EXPORTER=none. Any other exporter is an error.
func TracingEnabled(getenv func(string) string) (bool, error) {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return false, nil
	}
	switch exp := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exp {
	case "none":
		return false, nil
	case "otlp":
	case "":
		if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return false, nil
		}
	default:
		return false, fmt.Errorf("%w: OTEL_TRACES_EXPORTER=%s (loom exports otlp, or none)", ErrUnsupportedExporter, exp)
	}
	proto := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	if proto != "" && proto != "http/protobuf" {
		return false, fmt.Errorf("%w: OTLP protocol %q (loom sends http/protobuf, port 4318)", ErrUnsupportedExporter, proto)
	}
	return true, nil
}

// SetupTracing installs, when TracingEnabled says so, a tracer provider
// that exports spans by OTLP over HTTP as OpenTelemetry's global one, and
// the W3C propagator. The exporter reads the standard variables itself
// (OTEL_EXPORTER_OTLP_ENDPOINT, _HEADERS, _TIMEOUT, ...), as do the
// sampler (OTEL_TRACES_SAMPLER) and the resource (OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES; service.name defaults to service). shutdown
// flushes the spans not yet sent; it does nothing when tracing is off.
func SetupTracing(ctx context.Context, getenv func(string) string, service string) (shutdown func(context.Context) error, enabled bool, err error) {
	noop := func(context.Context) error { return nil }
	on, err := TracingEnabled(getenv)
	if err != nil || !on {
		return noop, false, err
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return noop, false, fmt.Errorf("telemetry: OTLP trace exporter: %w", err)
	}
	res, err := resource.Merge(
		resource.NewSchemaless(semconv.ServiceName(service)),
		resource.Environment(),
	)
	if err != nil {
		return noop, false, fmt.Errorf("telemetry: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp.Shutdown, true, nil
}
