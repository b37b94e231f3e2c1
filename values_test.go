package loom_test

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/loomhq/loom"
)

// TestValuesAccessorsAcrossJSON reads the same values as Go code builds
// them and as they come back from JSON (plain and with UseNumber): every
// accessor gives one answer for all three forms.
func TestValuesAccessorsAcrossJSON(t *testing.T) {
	t.Parallel()
	built := loom.Values{
		"n": 42, "big": int64(math.MaxInt64), "f": 2.5, "s": "x", "b": true,
		"m":  loom.Values{"k": 7},
		"l":  []int{1, 2},
		"lv": []loom.Values{{"a": 1}},
	}
	raw, err := json.Marshal(built)
	if err != nil {
		t.Fatal(err)
	}
	var plain loom.Values
	if err := json.Unmarshal(raw, &plain); err != nil {
		t.Fatal(err)
	}
	var numbers loom.Values
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&numbers); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]loom.Values{"built": built, "json": plain, "json.Number": numbers} {
		if n, ok := v.Int("n"); !ok || n != 42 {
			t.Errorf("%s: Int(n) = %d, %v", name, n, ok)
		}
		if f, ok := v.Float("n"); !ok || f != 42 {
			t.Errorf("%s: Float(n) = %v, %v", name, f, ok)
		}
		if f, ok := v.Float("f"); !ok || f != 2.5 {
			t.Errorf("%s: Float(f) = %v, %v", name, f, ok)
		}
		if _, ok := v.Int("f"); ok {
			t.Errorf("%s: Int(f) of 2.5 is ok", name)
		}
		if s, ok := v.String("s"); !ok || s != "x" {
			t.Errorf("%s: String(s) = %q, %v", name, s, ok)
		}
		if b, ok := v.Bool("b"); !ok || !b {
			t.Errorf("%s: Bool(b) = %v, %v", name, b, ok)
		}
		m, ok := v.Map("m")
		if !ok {
			t.Fatalf("%s: Map(m) not ok: %T", name, v["m"])
		}
		if k, ok := m.Int("k"); !ok || k != 7 {
			t.Errorf("%s: m.Int(k) = %d, %v", name, k, ok)
		}
		l, ok := v.List("l")
		if !ok || len(l) != 2 {
			t.Fatalf("%s: List(l) = %v, %v", name, l, ok)
		}
		if e, ok := loom.AsInt(l[1]); !ok || e != 2 {
			t.Errorf("%s: l[1] = %d, %v", name, e, ok)
		}
		lv, ok := v.List("lv")
		if !ok || len(lv) != 1 {
			t.Fatalf("%s: List(lv) = %v, %v", name, lv, ok)
		}
		if e, ok := loom.AsMap(lv[0]); !ok || e["a"] == nil {
			t.Errorf("%s: lv[0] = %v, %v", name, e, ok)
		}
		if _, ok := v.Int("missing"); ok {
			t.Errorf("%s: Int(missing) is ok", name)
		}
		if _, ok := v.Int("s"); ok {
			t.Errorf("%s: Int of a string is ok", name)
		}
	}
	// Integers beyond float64's precision keep every digit where the form
	// can carry them.
	if n, ok := numbers.Int("big"); !ok || n != math.MaxInt64 {
		t.Errorf("json.Number big = %d, %v", n, ok)
	}
	if _, ok := (loom.Values{"u": uint64(math.MaxUint64)}).Int("u"); ok {
		t.Error("Int of a uint64 beyond int64 is ok")
	}
}
