// Package strict decodes a task's loom.Values into a typed input struct the
// way a JSON API would: unknown keys and wrong types are errors, so a typo
// in a task's input fails the task at once instead of being ignored.
package strict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/loomhq/loom"
)

// Decode decodes in into dst (a pointer to a struct with json tags) through
// JSON, rejecting unknown keys. Values that came from Go code (a []string, an
// int) and values that came from JSON (a []any, a float64) decode alike.
// The error names the offending key where encoding/json says which one.
func Decode(in loom.Values, dst any) error {
	if in == nil {
		in = loom.Values{}
	}
	raw, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("input is not JSON-encodable: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return describe(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("input has trailing data")
	}
	return nil
}

// describe turns encoding/json's errors into messages about input keys
// rather than Go types.
func describe(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Errorf("input %q: got a JSON %s, want %s", te.Field, te.Value, jsonKind(te.Type.Kind().String()))
		}
		return fmt.Errorf("input: got a JSON %s, want an object", te.Value)
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Errorf("input: unknown key %s", field)
	}
	return fmt.Errorf("input: %w", err)
}

// jsonKind names a Go kind the way a JSON user would.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "bool":
		return "a boolean"
	case "float32", "float64", "int", "int8", "int16", "int32", "int64",
		"uint", "uint8", "uint16", "uint32", "uint64":
		return "a number"
	}
	return kind
}
