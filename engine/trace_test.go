package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/runtime/httprt"
	"github.com/loomhq/loom/telemetry"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestTraceOfFlowOnExternalWorker runs a two-step flow whose steps run on
// a worker outside the engine, over the in-process bus, and checks the
// trace: the flow's span is the child of the submitter's span, each
// step's attempt span is a child of the flow's span (the context crossed
// the store and the bus), the handlers run inside their attempt's span,
// and their log lines carry the task id, the attempt and the trace id.
func TestTraceOfFlowOnExternalWorker(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	var (
		logs   syncBuf
		mu     sync.Mutex
		inSpan = map[string]trace.SpanContext{}
	)
	logger := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(&logs, nil)))
	step := func(name string) *loom.Task {
		return loom.NewTask(name, loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
			mu.Lock()
			inSpan[name] = trace.SpanContextFromContext(ctx)
			mu.Unlock()
			logger.InfoContext(ctx, "step ran", "step", name)
			return loom.Values{"v": name}, nil
		}))
	}
	first, second := step("trace-first"), step("trace-second")
	flow, err := loom.NewFlow("traced", loom.FlowDef{Steps: []loom.Step{
		{Task: first, Provides: map[string]string{"v": "a"}},
		{Task: second, Requires: map[string]string{"in": "a"}},
	}})
	if err != nil {
		t.Fatal(err)
	}

	b := newBus(t)
	te := setup(t, nil, engine.Config{Bus: b, TracerProvider: tp,
		Queues: []engine.Queue{{Name: loom.DefaultQueue}, {Name: "remote", External: true}}})
	if err := te.Register(flow, engine.WithQueue("remote")); err != nil {
		t.Fatal(err)
	}
	w, err := engine.NewWorker(engine.WorkerConfig{Bus: b, Queues: []string{"remote"}, Tasks: []*loom.Task{first, second}, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	wdone := make(chan error, 1)
	go func() { wdone <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-wdone; err != nil {
			t.Errorf("worker Run: %v", err)
		}
	}()

	sctx, client := tp.Tracer("test").Start(context.Background(), "client")
	info, _, err := te.Submit(sctx, &engine.SubmitParams{Type: "traced", Queue: "remote"})
	if err != nil {
		t.Fatal(err)
	}
	client.End()
	if got := te.wait(t, info.ID); got.Status != loom.StatusCompleted {
		t.Fatalf("flow %s: %s", got.Status, got.Msg)
	}
	if info.TraceParent == "" {
		t.Fatal("the submitted flow carries no traceparent")
	}

	byName := map[string][]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		if s.SpanContext.TraceID() == client.SpanContext().TraceID() {
			byName[s.Name] = append(byName[s.Name], s)
		}
	}
	flows := byName["loom.flow traced"]
	if len(flows) != 1 {
		t.Fatalf("flow spans in the client's trace: %d, want 1; spans: %v", len(flows), names(byName))
	}
	if flows[0].Parent.SpanID() != client.SpanContext().SpanID() {
		t.Errorf("the flow span's parent is %s, want the client's span", flows[0].Parent.SpanID())
	}
	kids := map[string]string{}
	for _, name := range []string{"trace-first", "trace-second"} {
		spans := byName["loom.attempt "+name]
		if len(spans) != 1 {
			t.Fatalf("attempt spans of %s: %d, want 1; spans: %v", name, len(spans), names(byName))
		}
		s := spans[0]
		if s.Parent.SpanID() != flows[0].SpanContext.SpanID() {
			t.Errorf("%s's attempt span is not a child of the flow span", name)
		}
		if got := inSpan[name]; got.SpanID() != s.SpanContext.SpanID() {
			t.Errorf("%s's handler ran in span %s, want its attempt's %s", name, got.SpanID(), s.SpanContext.SpanID())
		}
		for _, a := range s.Attributes {
			if a.Key == "loom.task.id" {
				kids[name] = a.Value.AsString()
			}
		}
	}

	// Every line the handlers logged names its task, attempt and trace.
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log lines: %q", lines)
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		name, _ := rec["step"].(string)
		if rec["task_id"] != kids[name] || rec["attempt"] != 1.0 || rec["trace_id"] != client.SpanContext().TraceID().String() {
			t.Errorf("log line of %s: %s; want task_id %s, attempt 1, trace_id %s", name, l, kids[name], client.SpanContext().TraceID())
		}
	}
}

func names(m map[string][]tracetest.SpanStub) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	return out
}

// syncBuf is a bytes.Buffer safe for concurrent writes.
type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestTraceParentReachesHTTPTask submits an http task in a traced context
// and checks that the server it calls gets a traceparent header naming the
// attempt's span, in the submitter's trace.
func TestTraceParentReachesHTTPTask(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Header.Get("traceparent"):
		default:
		}
	}))
	defer srv.Close()
	te := setup(t, nil, engine.Config{TracerProvider: tp, Handlers: map[string]loom.Handler{"http": httprt.New(httprt.Config{})}})

	ctx, client := tp.Tracer("test").Start(context.Background(), "client")
	info, _, err := te.Submit(ctx, &engine.SubmitParams{Type: "http", Input: loom.Values{"url": srv.URL}})
	client.End()
	if err != nil {
		t.Fatal(err)
	}
	if done := te.wait(t, info.ID); done.Status != loom.StatusCompleted {
		t.Fatalf("http task %s: %s", done.Status, done.Msg)
	}
	header := <-got
	var attempt *tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == "loom.attempt http" {
			attempt = &s
		}
	}
	if attempt == nil {
		t.Fatal("no attempt span")
	}
	want := "00-" + client.SpanContext().TraceID().String() + "-" + attempt.SpanContext.SpanID().String() + "-01"
	if header != want {
		t.Errorf("traceparent the server got = %q, want %q (the attempt's span in the client's trace)", header, want)
	}
}

// TestTraceParentTravelsWithTracingOff: with no tracer provider (the
// global no-op), a submitter's trace context still reaches the server an
// http task calls.
func TestTraceParentTravelsWithTracingOff(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Header.Get("traceparent"):
		default:
		}
	}))
	defer srv.Close()
	te := setup(t, nil, engine.Config{Handlers: map[string]loom.Handler{"http": httprt.New(httprt.Config{})}})
	const caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := telemetry.WithTraceParent(context.Background(), caller)
	info, _, err := te.Submit(ctx, &engine.SubmitParams{Type: "http", Input: loom.Values{"url": srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if info.TraceParent != caller {
		t.Errorf("task traceparent = %q, want the caller's %q", info.TraceParent, caller)
	}
	if done := te.wait(t, info.ID); done.Status != loom.StatusCompleted {
		t.Fatalf("http task %s: %s", done.Status, done.Msg)
	}
	if h := <-got; h != caller {
		t.Errorf("traceparent the server got = %q, want %q", h, caller)
	}
}
