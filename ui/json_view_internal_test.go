package ui

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// deepValue is {"a": {"a": … {"pad": pad} …}, "pad": pad}, depth deep.
func deepValue(depth int, pad string) map[string]any {
	v := map[string]any{"pad": pad}
	for range depth {
		v = map[string]any{"a": v, "pad": pad}
	}
	return v
}

func TestBoundedJSONIsMarshalIndentForSmallValues(t *testing.T) {
	t.Parallel()
	for _, v := range []any{
		map[string]any{"a": []any{1, 2.5, "x\"y\\", nil}, "b": map[string]any{}, "c": []any{}, "d": true, "e": "<b> >&2"},
		[]any{}, "s", 3, nil, deepValue(10, "p: {[,]}"),
	} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		require.NoError(t, enc.Encode(v))
		want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		got := boundedJSON(v)
		require.False(t, got.Truncated)
		require.Equal(t, string(want), got.Text)
		edit, ok := editableJSON(v)
		require.True(t, ok)
		require.Equal(t, string(want), edit)
	}
}

// TestJSONReadsAsWritten keeps json.Marshal's HTML escapes out of what a
// page shows: the template escapes for HTML, the reader sees ">&2".
func TestJSONReadsAsWritten(t *testing.T) {
	t.Parallel()
	v := map[string]any{"command": "echo oops >&2"}
	require.Contains(t, boundedJSON(v).Text, `"echo oops >&2"`)
	edit, ok := editableJSON(v)
	require.True(t, ok)
	require.Contains(t, edit, `"echo oops >&2"`)
}

func TestBoundedJSONCutsDeepAndLargeValues(t *testing.T) {
	t.Parallel()
	// Deep: nesting past maxJSONDepth is elided, indentation stops growing.
	deep := boundedJSON(deepValue(5000, "x"))
	require.True(t, deep.Truncated)
	require.Contains(t, deep.Text, `"a": {…}`)
	require.Less(t, len(deep.Text), 4096)
	require.NotContains(t, deep.Text, strings.Repeat("  ", maxJSONDepth+1))

	// Large: about maxJSONBytes of it.
	big := make([]any, 100_000)
	for i := range big {
		big[i] = "item"
	}
	large := boundedJSON(map[string]any{"items": big})
	require.True(t, large.Truncated)
	require.Less(t, len(large.Text), maxJSONBytes+1024)
	require.True(t, strings.HasSuffix(large.Text, "\n…"))

	// Editing: a deep value that fits is given whole, compact when its
	// indented form would not fit; a large one is not offered.
	v := deepValue(3000, "")
	edit, ok := editableJSON(v)
	require.True(t, ok)
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	require.Equal(t, string(raw), edit)
	_, ok = editableJSON(map[string]any{"items": big})
	require.False(t, ok)
}

// BenchmarkBoundedJSONDeep renders a megabyte nested 9,000 deep, which
// the indenting of encoding/json would grow to gigabytes.
func BenchmarkBoundedJSONDeep(b *testing.B) {
	v := deepValue(9000, strings.Repeat("x", 100))
	for b.Loop() {
		if !boundedJSON(v).Truncated {
			b.Fatal("not truncated")
		}
	}
}
