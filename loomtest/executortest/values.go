package executortest

import (
	"context"
	"testing"

	"github.com/loomhq/loom"
)

// valueTests run the same handler code and the same assertions on every
// executor: values read through Values' typed accessors give one answer
// whether they crossed JSON (the durable engine) or not.
var valueTests = []test{
	{name: "RoundTrip", run: func(t *testing.T, e *env) {
		var seen loom.Values
		task := loom.NewTask("shapes", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
			seen = in
			n, _ := in.Int("n")
			nested, _ := in.Map("nested")
			k, _ := nested.Int("k")
			items, _ := in.List("items")
			return loom.Values{
				"n": n * 2, "f": 1.5, "s": "text", "b": true,
				"nested": loom.Values{"k": k + 1, "deep": loom.Values{"z": "zz"}},
				"items":  append(items, "more"),
				"ints":   []int{4, 5},
				"big":    int64(1) << 53,
			}, nil
		}))
		res := e.mustRun(t, task, loom.Values{"n": 21, "nested": loom.Values{"k": 1}, "items": []string{"a"}})
		if n, ok := seen.Int("n"); !ok || n != 21 {
			t.Errorf("handler read input n = %d, %v (as %T)", n, ok, seen["n"])
		}
		out := res.Output
		if n, ok := out.Int("n"); !ok || n != 42 {
			t.Errorf("Int(n) = %d, %v (as %T)", n, ok, out["n"])
		}
		if f, ok := out.Float("f"); !ok || f != 1.5 {
			t.Errorf("Float(f) = %v, %v", f, ok)
		}
		if s, ok := out.String("s"); !ok || s != "text" {
			t.Errorf("String(s) = %q, %v", s, ok)
		}
		if b, ok := out.Bool("b"); !ok || !b {
			t.Errorf("Bool(b) = %v, %v", b, ok)
		}
		nested, ok := out.Map("nested")
		if !ok {
			t.Fatalf("Map(nested) of a %T", out["nested"])
		}
		if k, ok := nested.Int("k"); !ok || k != 2 {
			t.Errorf("nested.Int(k) = %d, %v", k, ok)
		}
		deep, ok := nested.Map("deep")
		if z, _ := deep.String("z"); !ok || z != "zz" {
			t.Errorf("nested.deep = %v, %v", nested["deep"], ok)
		}
		items, ok := out.List("items")
		if !ok || len(items) != 2 || items[0] != "a" || items[1] != "more" {
			t.Errorf("List(items) = %v, %v", items, ok)
		}
		ints, ok := out.List("ints")
		if !ok || len(ints) != 2 {
			t.Fatalf("List(ints) = %v, %v", ints, ok)
		}
		if v, ok := loom.AsInt(ints[1]); !ok || v != 5 {
			t.Errorf("ints[1] = %d, %v (as %T)", v, ok, ints[1])
		}
		if v, ok := out.Int("big"); !ok || v != 1<<53 {
			t.Errorf("Int(big) = %d, %v", v, ok)
		}
	}},
	{name: "BetweenSteps", run: func(t *testing.T, e *env) {
		produce := loom.NewTask("produce", loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
			return loom.Values{"count": 3, "meta": loom.Values{"unit": "kg"}}, nil
		}))
		consume := loom.NewTask("consume", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
			n, ok := in.Int("count")
			meta, ok2 := in.Map("meta")
			unit, _ := meta.String("unit")
			return loom.Values{"total": n * 10, "ok": ok && ok2, "unit": unit}, nil
		}))
		flow := mustFlow(t, "weigh", loom.FlowDef{Steps: []loom.Step{
			{Task: produce, Provides: map[string]string{"count": "count", "meta": "meta"}},
			{Task: consume, Requires: map[string]string{"count": "count", "meta": "meta"},
				Provides: map[string]string{"total": "total", "ok": "ok", "unit": "unit"}},
		}})
		out := e.mustRun(t, flow, nil).Output
		total, _ := out.Int("total")
		ok, _ := out.Bool("ok")
		unit, _ := out.String("unit")
		if total != 30 || !ok || unit != "kg" {
			t.Errorf("flow output %v: the second step read its inputs wrong", out)
		}
	}},
}
