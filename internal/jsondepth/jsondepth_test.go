package jsondepth_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/loomhq/loom/internal/jsondepth"
)

func nested(n int) string {
	return strings.Repeat(`{"a":[`, n) + "1" + strings.Repeat(`]}`, n)
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		data  string
		limit int
		deep  bool
	}{
		{"flat", `{"a":1,"b":[1,2,3]}`, 2, false},
		{"at the limit", `[[[1]]]`, 3, false},
		{"over the limit", `[[[[1]]]]`, 3, true},
		{"siblings do not add up", `[[1],[2],[3],{"a":1}]`, 2, false},
		{"brackets inside strings", `{"a":"[[[[[[{{{{{"}`, 2, false},
		{"escaped quote in a string", `{"a":"\"[[[[[[["}`, 2, false},
		{"escaped backslash ends the escape", `{"a":"\\"}` + `[[[[`, 4, false},
		{"escaped backslash then deep", `{"a":"\\","b":[[[[1]]]]}`, 4, true},
		{"malformed closers do not go negative", `]]]]}}}[[[1]]]`, 3, false},
		{"unterminated string hides the rest", `"[[[[[[[`, 1, false},
		{"deep object", nested(40), 64, true},
		{"exactly 64", strings.Repeat("[", 64) + strings.Repeat("]", 64), 64, false},
		{"65", strings.Repeat("[", 65) + strings.Repeat("]", 65), 64, true},
	}
	for _, tt := range tests {
		err := jsondepth.Check([]byte(tt.data), tt.limit)
		var de *jsondepth.Error
		if got := errors.As(err, &de); got != tt.deep {
			t.Errorf("%s: Check(%q, %d) = %v, want too deep %v", tt.name, tt.data, tt.limit, err, tt.deep)
			continue
		}
		if tt.deep && (de.Limit != tt.limit || !strings.Contains(err.Error(), "deeper than")) {
			t.Errorf("%s: error %v does not name the limit %d", tt.name, err, tt.limit)
		}
	}
}

// FuzzCheck compares Check with the depth encoding/json sees on every
// valid JSON text.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{}`, `[1,[2,[3]]]`, `{"a":"]\"["}`, nested(3), `"\\"`, `[{"\\\"":[]}]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			_ = jsondepth.Check([]byte(s), 3) // must not panic
			return
		}
		want := depthOf(v)
		if err := jsondepth.Check([]byte(s), want); err != nil {
			t.Fatalf("%q has depth %d, Check refused it at that limit: %v", s, want, err)
		}
		if want > 0 && jsondepth.Check([]byte(s), want-1) == nil {
			t.Fatalf("%q has depth %d, Check accepted it at limit %d", s, want, want-1)
		}
	})
}

// depthOf is how deeply a decoded value nests arrays and objects.
func depthOf(v any) int {
	d := 0
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			d = max(d, depthOf(e))
		}
		return d + 1
	case []any:
		for _, e := range v {
			d = max(d, depthOf(e))
		}
		return d + 1
	}
	return 0
}
