package bus_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom/bus"
)

// TestMessageSeedJSON checks that seed 003's task objects read as messages
// and done messages write with seed 003's field names.
func TestMessageSeedJSON(t *testing.T) {
	const ready = `{"type":"task-type","info":"information for the worker","created":"2001-01-01T05:01:01.0Z"}`
	var m bus.Message
	if err := json.Unmarshal([]byte(ready), &m); err != nil {
		t.Fatal(err)
	}
	if m.Type != "task-type" || m.Info != "information for the worker" || !m.Created.Equal(time.Date(2001, 1, 1, 5, 1, 1, 0, time.UTC)) {
		t.Fatalf("decoded %+v", m)
	}
	if err := m.ValidateReady(); err != nil {
		t.Fatalf("seed 003 ready task refused: %v", err)
	}

	started := time.Date(2001, 1, 1, 6, 0, 0, 0, time.UTC)
	ended := time.Date(2001, 1, 1, 20, 0, 0, 0, time.UTC)
	m.Result, m.Msg, m.Started, m.Ended = bus.ResultComplete, "completed successfully!", &started, &ended
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"type":"task-type","info":"information for the worker","created":"2001-01-01T05:01:01Z","result":"complete","msg":"completed successfully!","started":"2001-01-01T06:00:00Z","ended":"2001-01-01T20:00:00Z"}`
	if string(out) != want {
		t.Fatalf("done task encodes as\n%s\nwant\n%s", out, want)
	}
	if err := m.ValidateDone(); err != nil {
		t.Fatalf("seed 003 done task refused: %v", err)
	}
}

func TestMessageFieldNames(t *testing.T) {
	now := time.Now().UTC()
	m := bus.Message{ID: "i", Type: "t", Queue: "q", Attempt: 1, Priority: 1, Info: "x", Input: []byte(`1`), Created: now,
		Result: "error", Msg: "m", Output: []byte(`2`), Started: &now, Ended: &now, Lease: "l",
		Timeout: now, MaxAttempts: 3, Permanent: true, RetryAfterMS: 1500}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(out, &fields); err != nil {
		t.Fatal(err)
	}
	var got []string
	for k := range fields {
		got = append(got, k)
	}
	want := strings.Fields("id type queue attempt priority info input created result msg output started ended timeout max_attempts permanent retry_after_ms lease")
	if len(got) != len(want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
	for _, k := range want {
		if _, ok := fields[k]; !ok {
			t.Errorf("field %q missing from %s", k, out)
		}
	}
}

func TestValidateQueue(t *testing.T) {
	for _, ok := range []string{"a", "default", "email.high", "A-b_c.9", strings.Repeat("x", bus.MaxNameLen)} {
		if err := bus.ValidateQueue(ok); err != nil {
			t.Errorf("ValidateQueue(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", " ", "a b", "a/b", "a*", "a>", ".a", "a.", "a..b", "ü", "done", strings.Repeat("x", bus.MaxNameLen+1)} {
		if err := bus.ValidateQueue(bad); !errors.Is(err, bus.ErrInvalidName) {
			t.Errorf("ValidateQueue(%q) = %v, want ErrInvalidName", bad, err)
		}
	}
	if err := bus.ValidateGroup("a.b"); !errors.Is(err, bus.ErrInvalidName) {
		t.Errorf("ValidateGroup accepted a dot: %v", err)
	}
}

func TestConsumeOptionsDefaults(t *testing.T) {
	o := bus.ConsumeOptions{}.WithDefaults()
	if o.Group != bus.DefaultGroup || o.AckWait != bus.DefaultAckWait || o.Name == "" {
		t.Fatalf("defaults: %+v", o)
	}
	if other := (bus.ConsumeOptions{}).WithDefaults(); other.Name == o.Name {
		t.Errorf("two consumers got the same default name %q", o.Name)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (bus.ConsumeOptions{Group: "g", AckWait: -1}).Validate(); err == nil {
		t.Error("negative AckWait accepted")
	}
}

func TestMalformedError(t *testing.T) {
	err := error(&bus.MalformedError{Source: "q.jsonl", Line: 3, Offset: 40, Err: errors.New("boom")})
	if !errors.Is(err, bus.ErrMalformed) {
		t.Error("not ErrMalformed")
	}
	if got := err.Error(); !strings.Contains(got, "q.jsonl:3") || !strings.Contains(got, "boom") {
		t.Errorf("Error() = %q", got)
	}
}

func TestZeroDeliveryErrors(t *testing.T) {
	var d bus.Delivery
	if d.Ack(t.Context()) == nil || d.Nack(t.Context(), 0) == nil || d.InProgress(t.Context()) == nil {
		t.Fatal("a Delivery without an Acknowledger settled")
	}
}

// FuzzMessageJSON checks that whatever decodes as a message encodes and
// decodes again to the same message.
func FuzzMessageJSON(f *testing.F) {
	f.Add([]byte(`{"type":"task-type","info":"information for the worker","created":"2001-01-01T05:01:01.0Z"}`))
	f.Add([]byte(`{"id":"x","type":"t","input":{"a":[1,2]},"result":"error","started":"2001-01-01T06:00:00Z"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m bus.Message
		if json.Unmarshal(data, &m) != nil {
			return
		}
		out, err := json.Marshal(m)
		if err != nil {
			return // a year outside 0-9999, which JSON times cannot hold
		}
		var again bus.Message
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatalf("re-decode %s: %v", out, err)
		}
		out2, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != string(out2) {
			t.Fatalf("not stable:\n%s\n%s", out, out2)
		}
	})
}
