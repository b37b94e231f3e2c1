package trigger

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// missing is the value of a path that leads nowhere. It behaves as null
// everywhere except in exists().
type missing struct{}

// resolve follows path p through ev. It returns the value and true, or
// false and how many segments resolved before the path led nowhere.
func resolve(p *pathNode, ev Event) (any, int, bool) {
	if p.root == "type" {
		return ev.Type, 0, true
	}
	var cur any = ev.Data
	for i, s := range p.segs {
		next, ok := step(cur, s)
		if !ok {
			return nil, i, false
		}
		cur = next
	}
	return cur, len(p.segs), true
}

// step takes one segment into a map or slice; other values have no fields.
func step(v any, s segment) (any, bool) {
	switch c := v.(type) {
	case map[string]any:
		if s.isIndex {
			return nil, false
		}
		x, ok := c[s.key]
		return x, ok
	case []any:
		if !s.isIndex || s.index >= len(c) {
			return nil, false
		}
		return c[s.index], true
	case nil:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		if s.isIndex || rv.Type().Key().Kind() != reflect.String {
			return nil, false
		}
		x := rv.MapIndex(reflect.ValueOf(s.key).Convert(rv.Type().Key()))
		if !x.IsValid() {
			return nil, false
		}
		return x.Interface(), true
	case reflect.Slice, reflect.Array:
		if !s.isIndex || s.index >= rv.Len() {
			return nil, false
		}
		return rv.Index(s.index).Interface(), true
	}
	return nil, false
}

// normalize turns Go numbers into float64 and typed slices into []any, so
// that events built in Go compare like events decoded from JSON.
func normalize(v any) any {
	switch x := v.(type) {
	case nil, bool, float64, string, []any, map[string]any, missing:
		return v
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case int32:
		return float64(x)
	case uint:
		return float64(x)
	case uint64:
		return float64(x)
	case uint32:
		return float64(x)
	case float32:
		return float64(x)
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface()
		}
		return out
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.String:
		return rv.String()
	case reflect.Bool:
		return rv.Bool()
	}
	return v
}

func isNull(v any) bool {
	switch v.(type) {
	case nil, missing:
		return true
	}
	return false
}

// kind names a value's type for error messages.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case missing:
		return "missing"
	case bool:
		return "a bool"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

// evaluator evaluates one filter against one event.
type evaluator struct {
	ctx context.Context
	src string
	ev  Event
	// budget is what is left of MatchBudget.
	budget int
}

func (e *evaluator) errf(n node, format string, args ...any) error {
	return fmt.Errorf("trigger filter: %w", errAt(e.src, n.offset(), format, args...))
}

func (e *evaluator) eval(n node) (any, error) {
	switch n := n.(type) {
	case *litNode:
		return n.val, nil
	case *listNode:
		out := make([]any, len(n.items))
		for i, item := range n.items {
			v, err := e.eval(item)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case *pathNode:
		v, _, ok := resolve(n, e.ev)
		if !ok {
			return missing{}, nil
		}
		return normalize(v), nil
	case *existsNode:
		_, _, ok := resolve(n.path, e.ev)
		return ok, nil
	case *notNode:
		b, err := e.truth(n.x, "!")
		return !b, err
	case *binNode:
		return e.binary(n)
	}
	return nil, fmt.Errorf("trigger filter: unknown node %T", n)
}

// truth evaluates n as a condition: null and missing are false, anything
// but a bool is an error.
func (e *evaluator) truth(n node, op string) (bool, error) {
	v, err := e.eval(n)
	if err != nil {
		return false, err
	}
	switch b := v.(type) {
	case bool:
		return b, nil
	case nil, missing:
		return false, nil
	}
	return false, e.errf(n, "operand of %s is %s, want a bool", op, kind(v))
}

func (e *evaluator) binary(n *binNode) (any, error) {
	if n.op == "&&" || n.op == "||" {
		l, err := e.truth(n.l, n.op)
		if err != nil || l == (n.op == "||") {
			return l, err
		}
		return e.truth(n.r, n.op)
	}
	l, err := e.eval(n.l)
	if err != nil {
		return nil, err
	}
	r, err := e.eval(n.r)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "==":
		return equal(l, r), nil
	case "!=":
		return !equal(l, r), nil
	case "<", "<=", ">", ">=":
		return e.order(n, l, r)
	case "contains":
		return e.contains(n, l, r, n.l)
	case "in":
		return e.contains(n, r, l, n.r)
	case "matches":
		switch s := l.(type) {
		case string:
			return e.match(n, s)
		case nil, missing:
			return false, nil
		}
		return nil, e.errf(n.l, "matches needs a string on its left, got %s", kind(l))
	}
	return nil, e.errf(n, "unknown operator %q", n.op)
}

// match runs a `matches` within the limits: a string over MaxMatchInput
// does not match, and a match that would overdraw the budget, or one
// asked for after ctx is done, is not run.
func (e *evaluator) match(n *binNode, s string) (any, error) {
	if len(s) > MaxMatchInput {
		return false, nil
	}
	if err := e.ctx.Err(); err != nil {
		return nil, fmt.Errorf("trigger filter %q: %w", e.src, err)
	}
	cost := n.re.insts * max(len(s), 1)
	if cost > e.budget {
		return nil, fmt.Errorf("trigger filter: %w of %d: %w", ErrBudget, MatchBudget,
			errAt(e.src, n.offset(), "matching %d more bytes against a pattern of %d instructions would exceed it", len(s), n.re.insts))
	}
	e.budget -= cost
	return n.re.re.MatchString(s), nil
}

// order compares numbers with numbers and strings with strings; a null or
// missing side makes the comparison false.
func (e *evaluator) order(n *binNode, l, r any) (any, error) {
	if isNull(l) || isNull(r) {
		return false, nil
	}
	var c int
	switch a := l.(type) {
	case float64:
		b, ok := r.(float64)
		if !ok {
			return nil, e.errf(n, "cannot compare a number with %s", kind(r))
		}
		c = compareFloat(a, b)
	case string:
		b, ok := r.(string)
		if !ok {
			return nil, e.errf(n, "cannot compare a string with %s", kind(r))
		}
		c = strings.Compare(a, b)
	default:
		return nil, e.errf(n, "%s only compares numbers or strings, got %s", n.op, kind(l))
	}
	switch n.op {
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	}
	return c >= 0, nil
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// contains reports whether container holds item: an element of an array,
// or a substring of a string. A null or missing container holds nothing.
func (e *evaluator) contains(n *binNode, container, item any, at node) (any, error) {
	switch c := container.(type) {
	case []any:
		for _, x := range c {
			if equal(normalize(x), item) {
				return true, nil
			}
		}
		return false, nil
	case string:
		s, ok := item.(string)
		if !ok {
			return nil, e.errf(n, "%s on a string needs a string, got %s", n.op, kind(item))
		}
		return strings.Contains(c, s), nil
	case nil, missing:
		return false, nil
	}
	return nil, e.errf(at, "%s needs an array or a string, got %s", n.op, kind(container))
}

// equal is JSON equality: numbers by value, arrays and objects element by
// element, null equal to missing.
func equal(a, b any) bool {
	a, b = normalize(a), normalize(b)
	if isNull(a) || isNull(b) {
		return isNull(a) && isNull(b)
	}
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	case bool, float64, string:
		return a == b
	}
	return reflect.DeepEqual(a, b)
}
