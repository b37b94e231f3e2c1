package trigger

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/loomhq/loom"
)

// ErrMissingPath is wrapped by Mapping.Apply when an event lacks a mapped
// value: a task started without an input it was promised would fail later
// and further from the cause.
var ErrMissingPath = errors.New("event has no value at path")

// Mapping says how a trigger builds a task's input from an event: input
// key -> path into the event, in filter syntax ("type", "data.order.id",
// `data.items[0]["sku"]`). Every path must lead to a value; optional values
// belong in the task's defaults, not here.
type Mapping map[string]string

// Validate checks every path's syntax, so a trigger is rejected when it is
// saved rather than when an event arrives.
func (m Mapping) Validate() error {
	_, err := m.compile()
	return err
}

func (m Mapping) compile() (map[string]*pathNode, error) {
	paths := make(map[string]*pathNode, len(m))
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(m)) {
		p, err := parsePath(m[key])
		if err != nil {
			errs = append(errs, fmt.Errorf("mapping %q: path %q: %w", key, m[key], err))
			continue
		}
		paths[key] = p
	}
	return paths, errors.Join(errs...)
}

// parsePath parses a source that must be a single path.
func parsePath(src string) (*pathNode, error) {
	p, err := newParser(src)
	if err != nil {
		return nil, err
	}
	n, err := p.path()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.errf(p.tok.pos, "unexpected %s after the path", describe(p.tok))
	}
	return n, nil
}

// Apply builds the input for event: each key gets a copy of the value at
// its path. It fails, naming the key and the first missing step, if any
// path leads nowhere; a null value is a value and maps to nil.
func (m Mapping) Apply(event Event) (loom.Values, error) {
	paths, err := m.compile()
	if err != nil {
		return nil, err
	}
	out := make(loom.Values, len(paths))
	for _, key := range slices.Sorted(maps.Keys(paths)) {
		p := paths[key]
		v, depth, ok := resolve(p, event)
		if !ok {
			return nil, fmt.Errorf("mapping %q: %w %s (no %s)", key, ErrMissingPath, p.src, describeSegment(p, depth))
		}
		out[key] = deepCopy(v)
	}
	return out, nil
}

// describeSegment names segment i of p, for "no data.order.id" messages.
func describeSegment(p *pathNode, i int) string {
	prefix := p.root
	for _, s := range p.segs[:i] {
		prefix += s.String()
	}
	return prefix + p.segs[i].String()
}

// String writes the segment as it would appear in a path.
func (s segment) String() string {
	if s.isIndex {
		return fmt.Sprintf("[%d]", s.index)
	}
	if isIdent(s.key) {
		return "." + s.key
	}
	return fmt.Sprintf("[%q]", s.key)
}

func isIdent(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := range len(s) {
		if !isIdentByte(s[i]) {
			return false
		}
	}
	return true
}

// deepCopy copies JSON-shaped maps and slices so that a task's input does
// not alias the event it came from.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}
