package loom

import (
	"encoding/json"
	"maps"
	"math"
	"strconv"
)

// Values carries a task's inputs and outputs, and the data a flow passes
// between its steps. Values are JSON-shaped (string keys, JSON-encodable
// values) so that the same task runs in-process and through the durable
// engine, where inputs and outputs are stored and sent as JSON.
//
// # The value model
//
// In memory a value keeps the Go type it was given: an int stays an int,
// a nested Values stays a Values. Through the durable engine every value
// crosses JSON, and comes back as JSON decodes it: numbers as float64,
// objects as map[string]any, lists as []any. A type assertion such as
// out["n"].(int) therefore holds in memory and panics durably.
//
// Read values with the typed accessors instead (Int, Float, String, Bool,
// Map, List): each accepts every form the value may take on any executor
// (an int, any sized integer, a float64 holding a whole number, a
// json.Number; a Values or a map[string]any) and returns the same answer
// for each, so handler code and test assertions written with them behave
// the same on every executor.
type Values map[string]any

// Clone returns a shallow copy of v, so that a step cannot change the map
// another step or the caller holds. A nil Values clones to an empty one.
func (v Values) Clone() Values {
	out := make(Values, len(v))
	maps.Copy(out, v)
	return out
}

// Int returns v[key] as an int64. ok is false when the key is missing or
// its value is not a whole number that fits an int64: Go integers of any
// size, a float64 or float32 without fraction (the form a number takes
// through JSON) and a json.Number all count; a string never does.
func (v Values) Int(key string) (n int64, ok bool) { return AsInt(v[key]) }

// Float returns v[key] as a float64; ok is false when the key is missing
// or its value is not a number (a Go integer or float, a json.Number).
func (v Values) Float(key string) (f float64, ok bool) { return AsFloat(v[key]) }

// String returns v[key] when it is a string; ok is false otherwise.
func (v Values) String(key string) (s string, ok bool) {
	s, ok = v[key].(string)
	return s, ok
}

// Bool returns v[key] when it is a bool; ok is false otherwise.
func (v Values) Bool(key string) (b bool, ok bool) {
	b, ok = v[key].(bool)
	return b, ok
}

// Map returns v[key] as Values when it is an object: a Values (as set in
// memory) or a map[string]any (as decoded from JSON). The result shares
// the map held in v. ok is false otherwise.
func (v Values) Map(key string) (m Values, ok bool) { return AsMap(v[key]) }

// List returns v[key] as a []any when it is a list: a []any (as decoded
// from JSON) or a slice or array of any other element type, each element
// kept as it is. ok is false otherwise.
func (v Values) List(key string) (l []any, ok bool) { return AsList(v[key]) }

// AsInt is Values.Int for a value already read: a list element, say.
func AsInt(x any) (int64, bool) {
	switch n := x.(type) {
	case int:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint:
		return uintToInt(uint64(n))
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint64:
		return uintToInt(n)
	case float32:
		return floatToInt(float64(n))
	case float64:
		return floatToInt(n)
	case json.Number:
		return parseInt(string(n))
	}
	return 0, false
}

func uintToInt(n uint64) (int64, bool) {
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// floatToInt accepts whole floats within int64's range; -2^63 is exact
// as a float64, 2^63 is not in range.
func floatToInt(f float64) (int64, bool) {
	if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// parseInt reads a JSON number literal that holds a whole number, written
// as an integer (every digit kept) or in floating form ("3.0", "1e3").
func parseInt(s string) (int64, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return floatToInt(f)
}

// AsFloat is Values.Float for a value already read.
func AsFloat(x any) (float64, bool) {
	switch n := x.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	if u, ok := x.(uint64); ok {
		return float64(u), true
	}
	if i, ok := AsInt(x); ok {
		return float64(i), true
	}
	return 0, false
}

// AsMap is Values.Map for a value already read.
func AsMap(x any) (Values, bool) {
	switch m := x.(type) {
	case Values:
		return m, true
	case map[string]any:
		return Values(m), true
	}
	return nil, false
}

// AsList is Values.List for a value already read.
func AsList(x any) ([]any, bool) {
	if x == nil {
		return nil, false
	}
	l, err := listOf(x)
	return l, err == nil
}
