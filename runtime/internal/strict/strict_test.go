package strict_test

import (
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/runtime/internal/strict"
)

type input struct {
	Name  string            `json:"name"`
	Count int               `json:"count"`
	Tags  []string          `json:"tags"`
	Env   map[string]string `json:"env"`
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      loom.Values
		wantErr string
	}{
		{name: "Go values", in: loom.Values{"name": "a", "count": 2, "tags": []string{"x"}, "env": map[string]string{"K": "V"}}},
		{name: "JSON values", in: loom.Values{"name": "a", "count": 2.0, "tags": []any{"x"}, "env": map[string]any{"K": "V"}}},
		{name: "nil", in: nil},
		{name: "unknown key", in: loom.Values{"nmae": "a"}, wantErr: `input: unknown key "nmae"`},
		{name: "wrong type", in: loom.Values{"count": "2"}, wantErr: `input "count": got a JSON string, want a number`},
		{name: "fraction for an int", in: loom.Values{"count": 1.5}, wantErr: `input "count": got a JSON number 1.5, want a number`},
		{name: "list for a string", in: loom.Values{"name": []any{}}, wantErr: `input "name": got a JSON array, want a string`},
		{name: "not JSON", in: loom.Values{"name": func() {}}, wantErr: "input is not JSON-encodable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got input
			err := strict.Decode(tt.in, &got)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Decode: %v", err)
			case tt.wantErr != "" && (err == nil || len(err.Error()) < len(tt.wantErr) || err.Error()[:len(tt.wantErr)] != tt.wantErr):
				t.Fatalf("Decode error %v, want one starting %q", err, tt.wantErr)
			}
		})
	}
}
