package server

import (
	"slices"
	"testing"

	"github.com/loomhq/loom/bus"
)

// TestOpenAPIWorkerSchemasMatchTypes keeps the worker protocol's schemas
// in step with the Go types its routes encode and decode.
func TestOpenAPIWorkerSchemasMatchTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	for schema, v := range map[string]any{
		"ClaimRequest":     claimRequest{},
		"ClaimAnswer":      claimAnswer{},
		"TaskMessage":      bus.Message{},
		"HeartbeatRequest": heartbeatRequest{},
		"HeartbeatAnswer":  heartbeatAnswer{},
		"LogRequest":       logRequest{},
		"ProgressRequest":  progressRequest{},
		"CompleteRequest":  completeRequest{},
		"FailRequest":      failRequest{},
		"ResultAnswer":     resultAnswer{},
	} {
		if got, want := schemaProperties(t, doc, schema), jsonFields(v); !slices.Equal(got, want) {
			t.Errorf("schema %s has properties %v, the Go type has fields %v", schema, got, want)
		}
	}
}

// TestLeaseToken: a token names its lease; one changed in any byte, or
// signed with another key, is refused.
func TestLeaseToken(t *testing.T) {
	s := newLeaseSigner(nil)
	l := workerLease{WorkerID: "w.1"}
	l.ID, l.Attempt = "0190-abc", 3
	token := s.sign(l)
	got, err := s.parse(token)
	if err != nil || got != l {
		t.Fatalf("parse(sign(%v)) = %v, %v", l, got, err)
	}
	for i := range token {
		b := []byte(token)
		b[i] ^= 1
		if _, err := s.parse(string(b)); err == nil {
			t.Fatalf("token changed at byte %d accepted: %s", i, b)
		}
	}
	if _, err := newLeaseSigner(nil).parse(token); err == nil {
		t.Fatal("a token of another key accepted")
	}
}
