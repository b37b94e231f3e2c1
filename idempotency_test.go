package loom_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/loomhq/loom"
)

func TestDeriveIdempotencyKeyEqual(t *testing.T) {
	t.Parallel()
	type point struct {
		X int `json:"x"`
		Y int `json:"y"`
	}
	tests := []struct {
		name string
		a, b loom.Values
	}{
		{"nil and empty", nil, loom.Values{}},
		{"same map built in another order",
			loom.Values{"a": 1, "b": "two", "c": true, "d": nil},
			loom.Values{"d": nil, "c": true, "b": "two", "a": 1}},
		{"nested maps in another order",
			loom.Values{"m": map[string]any{"z": 1, "a": map[string]any{"y": 2, "b": 3}}},
			loom.Values{"m": map[string]any{"a": map[string]any{"b": 3, "y": 2}, "z": 1}}},
		{"Values nested as map[string]any",
			loom.Values{"m": loom.Values{"k": "v"}},
			loom.Values{"m": map[string]any{"k": "v"}}},
		{"int and float64 of the same value",
			loom.Values{"n": 1, "f": 2.5, "big": int64(1) << 40},
			loom.Values{"n": 1.0, "f": float32(2.5), "big": float64(int64(1) << 40)}},
		{"number literals of the same value",
			loom.Values{"a": json.Number("1.50"), "b": json.Number("1e3"), "c": json.Number("-0"), "d": json.Number("0.1")},
			loom.Values{"a": 1.5, "b": 1000, "c": 0, "d": json.Number("1E-1")}},
		{"large float and its integer",
			loom.Values{"n": 1e21},
			loom.Values{"n": json.Number("1000000000000000000000")}},
		{"struct and the map it encodes to",
			loom.Values{"p": point{X: 1, Y: 2}},
			loom.Values{"p": map[string]any{"y": 2, "x": 1}}},
		{"a JSON round trip",
			loom.Values{"list": []any{1, "a", map[string]any{"k": []int{1, 2}}}, "u": uint8(7)},
			roundTrip(t, loom.Values{"list": []any{1, "a", map[string]any{"k": []int{1, 2}}}, "u": uint8(7)})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ka, kb := mustKey(t, "task", tt.a), mustKey(t, "task", tt.b)
			if ka != kb {
				t.Errorf("keys differ:\n%v -> %s\n%v -> %s", tt.a, ka, tt.b, kb)
			}
		})
	}
}

func TestDeriveIdempotencyKeyDiffers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		taskA, taskB string
		a, b         loom.Values
	}{
		{"task name", "charge", "refund", loom.Values{"id": 1}, loom.Values{"id": 1}},
		{"value", "t", "t", loom.Values{"id": 1}, loom.Values{"id": 2}},
		{"key", "t", "t", loom.Values{"id": 1}, loom.Values{"ID": 1}},
		{"number and string", "t", "t", loom.Values{"id": 1}, loom.Values{"id": "1"}},
		{"nested value", "t", "t", loom.Values{"m": map[string]any{"k": 1}}, loom.Values{"m": map[string]any{"k": 2}}},
		{"nil and empty nested map", "t", "t", loom.Values{"m": nil}, loom.Values{"m": map[string]any{}}},
		{"list order", "t", "t", loom.Values{"l": []int{1, 2}}, loom.Values{"l": []int{2, 1}}},
		{"close fractions", "t", "t", loom.Values{"f": 0.1}, loom.Values{"f": 0.10000000000000002}},
		{"int64s beyond float64 precision", "t", "t",
			loom.Values{"n": int64(1)<<62 + 1}, loom.Values{"n": int64(1)<<62 + 2}},
		{"uint64s beyond int64", "t", "t",
			loom.Values{"n": uint64(math.MaxUint64)}, loom.Values{"n": uint64(math.MaxUint64 - 1)}},
		{"empty inputs and empty name", "t", "t", loom.Values{}, loom.Values{"": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if ka, kb := mustKey(t, tt.taskA, tt.a), mustKey(t, tt.taskB, tt.b); ka == kb {
				t.Errorf("same key %s for %s%v and %s%v", ka, tt.taskA, tt.a, tt.taskB, tt.b)
			}
		})
	}
}

func TestDeriveIdempotencyKeyForm(t *testing.T) {
	t.Parallel()
	k := mustKey(t, "charge", loom.Values{"id": 1})
	name, sum, ok := strings.Cut(k, ":")
	if !ok || name != "charge" || len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
		t.Errorf("key %q, want charge:<64 hex digits>", k)
	}
	// The hash is of the canonical JSON, so it is pinned: changing the
	// encoding would orphan every key already recorded.
	in := loom.Values{"l": []any{json.Number("1.50"), "x"}, "id": 1.0}
	// sha256 of {"id":1,"l":[1.5,"x"]}
	want := "charge:74294f29be61d12037a89729da23af19db69a81057886fbc551ff2e92585e9e8"
	if got := mustKey(t, "charge", in); got != want {
		t.Errorf("key = %s, want %s", got, want)
	}
}

func TestDeriveIdempotencyKeyUnencodable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   loom.Values
	}{
		{"channel", loom.Values{"c": make(chan int)}},
		{"func", loom.Values{"f": func() {}}},
		{"NaN", loom.Values{"n": math.NaN()}},
		{"nested channel", loom.Values{"m": map[string]any{"c": make(chan int)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := loom.DeriveIdempotencyKey("t", tt.in)
			if err == nil {
				t.Fatalf("DeriveIdempotencyKey = %q, want error", k)
			}
			if k != "" {
				t.Errorf("key = %q alongside error, want empty", k)
			}
			if !strings.Contains(err.Error(), "t") {
				t.Errorf("error %q does not name the task", err)
			}
		})
	}
}

func FuzzDeriveIdempotencyKey(f *testing.F) {
	f.Add(`{"a":1,"b":[1.5,"x",{"c":null}]}`)
	f.Add(`{"n":1e21,"m":-0.0,"s":"\u003c"}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, doc string) {
		var in loom.Values
		if err := json.Unmarshal([]byte(doc), &in); err != nil {
			return
		}
		k1, err := loom.DeriveIdempotencyKey("t", in)
		if err != nil {
			t.Fatalf("decoded JSON did not encode: %v", err)
		}
		// A second round trip must not change the key.
		if k2 := mustKey(t, "t", roundTrip(t, in)); k1 != k2 {
			t.Fatalf("key changed over a JSON round trip: %s != %s", k1, k2)
		}
	})
}

func roundTrip(t testing.TB, in loom.Values) loom.Values {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out loom.Values
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustKey(t testing.TB, task string, in loom.Values) string {
	t.Helper()
	k, err := loom.DeriveIdempotencyKey(task, in)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
