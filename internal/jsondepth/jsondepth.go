// Package jsondepth measures how deeply JSON text nests without decoding
// it, so that input from outside can be refused before a decoder (or
// anything that later walks the value, such as a pretty-printer) spends
// time and memory on it. encoding/json alone accepts 10,000 levels.
package jsondepth

import "fmt"

// Max is how deeply loom lets JSON from outside nest arrays and objects:
// far more than any real task input needs, few enough that every walk
// over a value stays cheap.
const Max = 64

// Error says that a JSON text nests deeper than Limit.
type Error struct {
	// Limit is the depth that was exceeded.
	Limit int
	// Offset is the byte offset of the bracket that went too deep.
	Offset int
}

func (e *Error) Error() string {
	return fmt.Sprintf("JSON nests arrays and objects deeper than %d levels (at offset %d)", e.Limit, e.Offset)
}

// Check returns an *Error if data nests arrays and objects deeper than
// limit, and nil otherwise. It only counts brackets outside strings: data
// need not be valid JSON, and malformed text is left to the decoder.
func Check(data []byte, limit int) error {
	depth := 0
	inString, escaped := false, false
	for i, c := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			if depth > limit {
				return &Error{Limit: limit, Offset: i}
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return nil
}
