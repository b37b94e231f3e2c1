package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Bounds on a JSON value shown on a page. A task's input or output can be
// a megabyte, or nested thousands deep (indenting that naively grows with
// the square of the depth); a page shows the first part and links to the
// raw JSON.
const (
	// maxJSONBytes is the most of one value a page shows.
	maxJSONBytes = 64 << 10
	// maxJSONDepth is the deepest nesting shown; deeper containers are
	// shown as {…} or […].
	maxJSONDepth = 16
	// maxEditBytes is the largest input a page offers to edit in a form.
	maxEditBytes = 64 << 10
)

// jsonView is a value as a page shows it: indented JSON, cut short when it
// is too large or too deep.
type jsonView struct {
	Text string
	// Truncated says that Text is not all of the value; the page links
	// to the raw JSON.
	Truncated bool
}

// boundedJSON renders v as indented JSON of at most about maxJSONBytes,
// eliding what is nested deeper than maxJSONDepth. It takes time linear
// in the size of v's JSON, whatever its shape.
func boundedJSON(v any) jsonView {
	raw, err := marshalAsWritten(v)
	if err != nil {
		return jsonView{Text: fmt.Sprintf("(not JSON: %v)", err)}
	}
	var b bytes.Buffer
	truncated := indentJSON(&b, raw, maxJSONDepth, maxJSONBytes)
	return jsonView{Text: b.String(), Truncated: truncated}
}

// editableJSON is v as the text of an edit form: all of it, indented (at
// most maxJSONDepth levels of indentation, so a deep value grows only
// linearly), or compact if that is what fits; ok is false when v is too
// large to edit on a page.
func editableJSON(v any) (text string, ok bool) {
	raw, err := marshalAsWritten(v)
	if err != nil || len(raw) > maxEditBytes {
		return "", false
	}
	var b bytes.Buffer
	if !indentJSON(&b, raw, -1, maxEditBytes) {
		return b.String(), true
	}
	return string(raw), true
}

// marshalAsWritten is json.Marshal without its HTML escapes, so that
// "a >&2" reads as the user wrote it; the page's template escapes the text
// for HTML where it lands.
func marshalAsWritten(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// prettyJSON is boundedJSON's text, for the template function "json".
func prettyJSON(v any) string { return boundedJSON(v).Text }

// indentJSON writes the compact JSON raw to b indented by two spaces a
// level (never more than maxJSONDepth levels), replacing containers nested
// deeper than maxDepth (none when negative) with an ellipsis and stopping
// after about maxBytes. It reports whether anything was left out. raw must
// be valid JSON, as json.Marshal makes it.
func indentJSON(b *bytes.Buffer, raw []byte, maxDepth, maxBytes int) (truncated bool) {
	depth := 0
	newline := func() {
		b.WriteByte('\n')
		for range min(depth, maxJSONDepth) {
			b.WriteString("  ")
		}
	}
	for i := 0; i < len(raw); i++ {
		if b.Len() > maxBytes {
			b.WriteString("\n…")
			return true
		}
		c := raw[i]
		switch c {
		case '"':
			end := stringEnd(raw, i)
			b.Write(raw[i:end])
			i = end - 1
		case '{', '[':
			if maxDepth >= 0 && depth >= maxDepth {
				end := containerEnd(raw, i)
				b.WriteByte(c)
				if end-i > 2 {
					b.WriteString("…")
					truncated = true
				}
				b.WriteByte(raw[end-1])
				i = end - 1
				continue
			}
			b.WriteByte(c)
			if i+1 < len(raw) && (raw[i+1] == '}' || raw[i+1] == ']') {
				b.WriteByte(raw[i+1])
				i++
				continue
			}
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			b.WriteByte(c)
		case ',':
			b.WriteByte(c)
			newline()
		case ':':
			b.WriteString(": ")
		default:
			b.WriteByte(c)
		}
	}
	return truncated
}

// stringEnd is the index just past the JSON string starting at raw[i].
func stringEnd(raw []byte, i int) int {
	for j := i + 1; j < len(raw); j++ {
		switch raw[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(raw)
}

// containerEnd is the index just past the object or array starting at
// raw[i].
func containerEnd(raw []byte, i int) int {
	depth := 0
	for j := i; j < len(raw); j++ {
		switch raw[j] {
		case '"':
			j = stringEnd(raw, j) - 1
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1
			}
		}
	}
	return len(raw)
}
