package trigger

import (
	"context"
	"errors"
	"fmt"
)

// ErrNotBool is wrapped by Match when a filter's value is not a condition
// (a filter that is just data.amount, say).
var ErrNotBool = errors.New("filter is not a condition")

// Filter is a compiled filter expression. It is immutable and safe for
// concurrent use; compile once when a trigger is saved, match per event.
//
// The language:
//
//   - paths: type, data.field, data.a.b, data["key with spaces"], data.items[0]
//   - literals: "strings" (JSON escapes), numbers, true, false, null, and
//     lists [1, 2, "x"]
//   - comparisons: == != < <= > >=; == compares JSON values (numbers by
//     value, arrays and objects deeply); the ordering ones compare numbers
//     with numbers and strings with strings
//   - a contains b: b is an element of array a, or a substring of string a
//   - a in b: the same with the sides swapped, as in data.country in ["DE", "AT"]
//   - a matches "re": a matches the RE2 regular expression (unanchored; use
//     ^ and $), checked when the filter compiles. A pattern is at most
//     MaxRegexpLength (512) bytes and compiles to at most MaxRegexpInsts
//     (128) instructions (so "[a-z]{1000}" is refused); a string longer
//     than MaxMatchInput (64 KiB) matches no pattern; and the patterns of
//     one evaluation may cost at most MatchBudget (ErrBudget otherwise)
//   - exists(path): the path leads to a value (which may be null)
//   - ! && || and parentheses, with the usual precedence (! binds
//     tightest, then comparisons, then &&, then ||), && and || short-circuit
//
// A path that leads nowhere is null: data.x == null holds when x is absent
// or null, data.x > 1 is false, and as a condition it is false; so a filter
// simply does not match events that lack its fields. Comparing values of
// the wrong kinds (a number < a string) is an error, since it points at a
// filter that does not fit its events.
type Filter struct {
	src  string
	root node
}

// Compile parses a filter. Errors wrap a *SyntaxError giving the column.
func Compile(src string) (*Filter, error) {
	root, err := parseFilter(src)
	if err != nil {
		return nil, fmt.Errorf("trigger filter: %w", err)
	}
	return &Filter{src: src, root: root}, nil
}

// MustCompile is Compile for filters known to be valid; it panics on error.
func MustCompile(src string) *Filter {
	f, err := Compile(src)
	if err != nil {
		panic(err)
	}
	return f
}

// String returns the filter's source, as compiled.
func (f *Filter) String() string { return f.src }

// Match reports whether event matches the filter. An error (with the
// column of the operation at fault) means the filter compared values of
// kinds that do not compare; callers treat that event as not matching and
// surface the error to the trigger's owner.
func (f *Filter) Match(event Event) (bool, error) {
	return f.MatchContext(context.Background(), event)
}

// MatchContext is Match that stops when ctx is done: a request that goes
// away stops its evaluation (between `matches`, each of which is bounded).
func (f *Filter) MatchContext(ctx context.Context, event Event) (bool, error) {
	e := &evaluator{ctx: ctx, src: f.src, ev: event, budget: MatchBudget}
	v, err := e.eval(f.root)
	if err != nil {
		return false, err
	}
	switch b := v.(type) {
	case bool:
		return b, nil
	case nil, missing:
		return false, nil
	}
	return false, fmt.Errorf("trigger filter %q: %w: it is %s", f.src, ErrNotBool, kind(v))
}
