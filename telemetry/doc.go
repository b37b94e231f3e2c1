// Package telemetry holds what loom's traces and logs share: the
// OpenTelemetry tracer the engine and workers start spans with, the W3C
// traceparent carried on tasks and bus messages, OTLP export configured
// by the standard OTEL_* variables, and a log/slog handler that adds the
// task id, the attempt and the trace id to every line logged with a
// context that has them.
//
// Tracing is off unless a TracerProvider is given or installed
// (SetupTracing does, when the environment asks for export): the global
// provider of OpenTelemetry is then a no-op, and a span costs a few
// allocations at most.
package telemetry
