package trigger_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/loomhq/loom/trigger"
)

var filterSeeds = []string{
	`type == "order.created"`,
	`data.amount > 100 && data.currency == "EUR"`,
	`data.tags contains "vip"`,
	`data.user.email matches "^.*@example\\.com$"`,
	`exists(data.x) || !(data.y in [1, "2", null, true])`,
	`data.items[0]["sku"] <= "B" && -1.5e3 < data.n`,
	`((data.a))`, `!!!data.b`, `data.a == [[1], {}]`, `data.`, `"\u00e9" == data["é"]`,
}

// FuzzCompile: Compile never panics; an error is always a *SyntaxError with
// a column inside the source (or just past its end).
func FuzzCompile(f *testing.F) {
	for _, s := range filterSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		_, err := trigger.Compile(src)
		if err == nil {
			return
		}
		var se *trigger.SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("%q: error without a column: %v", src, err)
		}
		if se.Column < 1 || se.Column > len([]rune(src))+1 {
			t.Fatalf("%q: column %d outside the source", src, se.Column)
		}
	})
}

// FuzzMatch: matching any compiled filter against any JSON event never
// panics, and mapping any path never panics.
func FuzzMatch(f *testing.F) {
	events := []string{
		`{"amount": 250, "currency": "EUR", "tags": ["vip"], "user": {"email": "a@example.com"}}`,
		`{"a": null, "b": [1, [2, {"c": 3}]], "x": true}`,
		`{}`, `{"items": [{"sku": "A"}], "n": -1e308}`,
	}
	for _, s := range filterSeeds {
		for _, e := range events {
			f.Add(s, "order.created", e)
		}
	}
	f.Fuzz(func(t *testing.T, src, typ, data string) {
		var d map[string]any
		if json.Unmarshal([]byte(data), &d) != nil {
			d = map[string]any{"raw": data}
		}
		ev := trigger.Event{Type: typ, Data: d}
		if flt, err := trigger.Compile(src); err == nil {
			_, _ = flt.Match(ev)
		}
		_, _ = trigger.Mapping{"k": src}.Apply(ev)
	})
}
