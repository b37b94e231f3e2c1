package server

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestWorkerLogSchema holds the worker log call's body to its documented
// JSON Schema: the same fields, and the streams the server accepts.
func TestWorkerLogSchema(t *testing.T) {
	const file = "../docs/schema/worker-log.schema.json"
	sch, err := jsonschema.NewCompiler().Compile(file)
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	rt := reflect.TypeFor[logRequest]()
	for i := range rt.NumField() {
		fields = append(fields, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
	}
	var props []string
	for name := range sch.Properties {
		props = append(props, name)
	}
	slices.Sort(fields)
	slices.Sort(props)
	if !slices.Equal(fields, props) {
		t.Errorf("the log call reads %v, the schema documents %v", fields, props)
	}
	for body, ok := range map[string]bool{
		`{"lease":"l","data":"a\n"}`:                 true,
		`{"lease":"l","stream":"stderr","data":"a"}`: true,
		`{"lease":"l","stream":"system","data":"a"}`: true,
		`{"lease":"l","stream":"stdin","data":"a"}`:  false,
		`{"lease":"l","data":"a","level":"warning"}`: false,
	} {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(v); (err == nil) != ok {
			t.Errorf("%s: valid %v, want %v (%v)", body, err == nil, ok, err)
		}
	}
}
