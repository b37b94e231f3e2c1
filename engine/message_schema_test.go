package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/engine"
)

// schemaFile is the documented JSON Schema of bus messages.
const schemaFile = "../docs/schema/task-message.schema.json"

// messageSchemas compiles the ready and done definitions of schemaFile,
// with formats (date-time) asserted.
func messageSchemas(t *testing.T) (ready, done *jsonschema.Schema) {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	ready, err := c.Compile(schemaFile + "#/$defs/ready")
	if err != nil {
		t.Fatal(err)
	}
	done, err = c.Compile(schemaFile + "#/$defs/done")
	if err != nil {
		t.Fatal(err)
	}
	return ready, done
}

// validateMessage checks m, as its JSON, against sch.
func validateMessage(t *testing.T, sch *jsonschema.Schema, what string, m bus.Message) {
	t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("%s does not match the schema: %v\n%s", what, err, raw)
	}
}

// TestBusMessagesMatchSchema checks the messages the engine and its
// embedded worker really publish against docs/schema, so that the
// documented format cannot drift from the code; and that a worker's own
// started, ended and msg, and the task's attributes, make the round trip.
func TestBusMessagesMatchSchema(t *testing.T) {
	t.Parallel()
	ready, done := messageSchemas(t)
	b := newBus(t)
	greet := loom.NewTask("greet", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
		return loom.Values{"greeting": "hello " + in["who"].(string)}, nil
	}))
	boom := loom.NewTask("boom", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
		return nil, loom.Permanent(errors.New("bad input"))
	}))
	te := newTestEngine(t, nil, engine.Config{Bus: b, Queues: []engine.Queue{{Name: loom.DefaultQueue}, {Name: "py", External: true}}}, greet, boom)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A group of its own sees every done message, the embedded worker's too.
	audit, err := b.ConsumeDone(ctx, bus.ConsumeOptions{Group: "audit"})
	if err != nil {
		t.Fatal(err)
	}
	defer audit.Close()
	py, err := b.Consume(ctx, "py", bus.ConsumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer py.Close()
	te.start(t)

	attrs := map[string]any{"team": "data", "cost": 2.0}
	g := te.submit(t, &engine.SubmitParams{Type: "greet", Input: loom.Values{"who": "ann"}, Attributes: attrs, Info: "say hi"})
	bad := te.submit(t, &engine.SubmitParams{Type: "boom"})
	ext := te.submit(t, &engine.SubmitParams{Type: "py-job", Queue: "py", Input: loom.Values{"n": 1.0}, Attributes: attrs, MaxAttempts: 2})

	ds, err := py.Receive(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := ds[0].Message
	validateMessage(t, ready, "the ready message", m)
	if m.Attributes["team"] != "data" {
		t.Errorf("the ready message's attributes: %v, want the task's", m.Attributes)
	}
	// The worker's answer, with its own times and words.
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ended := started.Add(1500 * time.Millisecond)
	answer := m
	answer.Result, answer.Msg, answer.Output = bus.ResultComplete, "did it in 1.5s", json.RawMessage(`{"n":2}`)
	answer.Started, answer.Ended = &started, &ended
	validateMessage(t, done, "a worker's done message", answer)
	if err := b.PublishDone(ctx, answer); err != nil {
		t.Fatal(err)
	}
	if err := ds[0].Ack(ctx); err != nil {
		t.Fatal(err)
	}

	got := te.wait(t, ext.ID)
	if got.Status != loom.StatusCompleted || got.Msg != "did it in 1.5s" || got.Output["n"] != 2.0 {
		t.Fatalf("the worker's result: %s %q %v", got.Status, got.Msg, got.Output)
	}
	if got.Started == nil || !got.Started.Equal(started) || got.Ended == nil || !got.Ended.Equal(ended) {
		t.Errorf("started %v ended %v, want the worker's %v and %v", got.Started, got.Ended, started, ended)
	}
	if got := te.wait(t, g.ID); got.Status != loom.StatusCompleted {
		t.Fatalf("greet: %s %q", got.Status, got.Msg)
	}
	if got := te.wait(t, bad.ID); got.Status != loom.StatusFailed {
		t.Fatalf("boom: %s %q", got.Status, got.Msg)
	}
	// Every done message: the embedded worker's success and permanent
	// failure, and the answer above.
	seen := map[string]bool{}
	for len(seen) < 3 {
		ds, err := audit.Receive(ctx, 10)
		if err != nil {
			t.Fatalf("done messages seen: %v: %v", seen, err)
		}
		for _, d := range ds {
			validateMessage(t, done, "the done message of "+d.Type, d.Message)
			seen[d.Type] = true
			if d.Type == "greet" && d.Attributes["team"] != "data" {
				t.Errorf("greet's done message lost its attributes: %v", d.Attributes)
			}
			if d.Type == "boom" && !d.Permanent {
				t.Error("boom's done message is not permanent")
			}
			_ = d.Ack(ctx)
		}
	}
}

// TestSchemaRefusesDrift: the schema refuses fields it does not list and
// a ready message that carries a result, so that it checks something.
func TestSchemaRefusesDrift(t *testing.T) {
	t.Parallel()
	ready, done := messageSchemas(t)
	for what, c := range map[string]struct {
		sch *jsonschema.Schema
		raw string
	}{
		"unknown field": {done, `{"id":"a","type":"t","attempt":1,"result":"complete","colour":"red"}`},
		"ready result":  {ready, `{"id":"a","type":"t","queue":"q","attempt":1,"created":"2026-01-01T00:00:00Z","timeout":"2026-01-01T06:00:00Z","max_attempts":1,"lease":"x","result":"complete"}`},
		"bad time":      {done, `{"id":"a","type":"t","attempt":1,"result":"error","started":"yesterday"}`},
		"bad result":    {done, `{"id":"a","type":"t","attempt":1,"result":"ok"}`},
	} {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(c.raw)))
		if err != nil {
			t.Fatal(err)
		}
		if c.sch.Validate(v) == nil {
			t.Errorf("%s: the schema accepts %s", what, c.raw)
		}
	}
}
