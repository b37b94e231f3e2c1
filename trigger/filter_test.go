package trigger_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom/trigger"
)

func order(t *testing.T) trigger.Event {
	t.Helper()
	var data map[string]any
	require.NoError(t, json.Unmarshal([]byte(`{
		"amount": 250.5, "currency": "EUR", "count": 3,
		"tags": ["vip", "repeat"], "note": null, "paid": true,
		"user": {"email": "ann@example.com", "name": "Ann"},
		"items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
		"odd key": "yes"
	}`), &data))
	return trigger.Event{Type: "order.created", Data: data}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want bool
	}{
		{`type == "order.created"`, true},
		{`type == "order.paid"`, false},
		{`type != "order.paid"`, true},
		{`data.amount > 100 && data.currency == "EUR"`, true},
		{`data.amount > 100 && data.currency == "USD"`, false},
		{`data.amount >= 250.5`, true},
		{`data.amount < 250.5`, false},
		{`data.amount <= -1`, false},
		{`data.count == 3`, true},
		{`data.count == 3.0`, true},
		{`data.currency > "ABC"`, true},
		{`data.tags contains "vip"`, true},
		{`data.tags contains "new"`, false},
		{`data.user.email contains "@example"`, true},
		{`"vip" in data.tags`, true},
		{`data.currency in ["USD", "EUR"]`, true},
		{`data.currency in ["USD", "GBP"]`, false},
		{`data.count in [1, 2, 3]`, true},
		{`data.user.email matches "^.*@example\\.com$"`, true},
		{`data.user.email matches "^bob@"`, false},
		{`data.user.name matches "(?i)^ann$"`, true},
		{`exists(data.note)`, true},
		{`exists(data.nothing)`, false},
		{`exists(data.user.email)`, true},
		{`exists(data.items[1].sku)`, true},
		{`exists(data.items[2])`, false},
		{`exists(type)`, true},
		{`!exists(data.coupon)`, true},
		{`data.note == null`, true},
		{`data.nothing == null`, true},
		{`data.note == data.nothing`, true},
		{`data.paid`, true},
		{`data.paid == true`, true},
		{`!data.paid`, false},
		{`data.nothing`, false},
		{`!data.nothing`, true},
		{`data.nothing > 1`, false},
		{`data.nothing contains "x"`, false},
		{`data.nothing matches "x"`, false},
		{`"x" in data.nothing`, false},
		{`data.items[0].sku == "A-1"`, true},
		{`data.items[0]["qty"] == 2`, true},
		{`data["odd key"] == "yes"`, true},
		{`data.tags == ["vip", "repeat"]`, true},
		{`data.tags == ["repeat", "vip"]`, false},
		{`data.user == data.user`, true},
		{`data.amount > 1000 || data.tags contains "vip"`, true},
		{`(data.amount > 1000 || data.paid) && !(data.currency == "USD")`, true},
		{`data.amount > 1000 || data.currency == "USD" || data.count == 3`, true},
		{`true && false || true`, true},
		{`true || false && false`, true},
		{`!true || true`, true},
		{`!(true || true)`, false},
		{`false && data.amount > "x"`, false}, // short-circuit skips the bad comparison
		{`true || data.amount > "x"`, true},
		{`1e3 == 1000`, true},
		{`"a\"b" == "a\"b"`, true},
		{`null`, false},
	}
	ev := order(t)
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			f, err := trigger.Compile(tt.src)
			require.NoError(t, err)
			require.Equal(t, tt.src, f.String())
			got, err := f.Match(ev)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// Events built in Go rather than decoded from JSON compare the same way.
func TestMatchGoValues(t *testing.T) {
	t.Parallel()
	ev := trigger.Event{Type: "x", Data: map[string]any{
		"n": 7, "u": uint8(7), "f": float32(0.5), "j": json.Number("12"),
		"tags": []string{"a", "b"}, "nested": map[string]string{"k": "v"},
		"ints": []int{1, 2},
	}}
	for _, src := range []string{
		`data.n == 7`, `data.u == 7`, `data.f == 0.5`, `data.j > 11`, `data.tags contains "b"`,
		`data.nested.k == "v"`, `data.ints contains 2`, `data.tags[1] == "b"`, `data.ints == [1, 2]`,
	} {
		ok, err := trigger.MustCompile(src).Match(ev)
		require.NoError(t, err, src)
		require.True(t, ok, src)
	}
}

func TestMatchErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src, want string
	}{
		{`data.amount > "100"`, `column 13: cannot compare a number with a string`},
		{`data.currency < 5`, `column 15: cannot compare a string with a number`},
		{`data.paid > true`, `column 11: > only compares numbers or strings, got a bool`},
		{`data.amount && true`, `column 1: operand of && is a number`},
		{`!data.currency`, `column 2: operand of ! is a string`},
		{`data.amount contains 1`, `column 1: contains needs an array or a string, got a number`},
		{`data.currency contains 1`, `column 15: contains on a string needs a string, got a number`},
		{`1 in data.amount`, `column 6: in needs an array or a string, got a number`},
		{`data.amount matches "1"`, `column 1: matches needs a string on its left`},
	}
	ev := order(t)
	for _, tt := range tests {
		f, err := trigger.Compile(tt.src)
		require.NoError(t, err, tt.src)
		ok, err := f.Match(ev)
		require.False(t, ok)
		require.Error(t, err, tt.src)
		require.Contains(t, err.Error(), tt.want, tt.src)
		var se *trigger.SyntaxError
		require.True(t, errors.As(err, &se), tt.src)
	}
	_, err := trigger.MustCompile(`data.amount`).Match(ev)
	require.ErrorIs(t, err, trigger.ErrNotBool)
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src    string
		column int
		msg    string
	}{
		{``, 1, "empty filter"},
		{`   `, 1, "empty filter"},
		{`data.amount >`, 14, "unexpected end of filter"},
		{`data.amount = 1`, 13, "use == to compare"},
		{`data.a & data.b`, 8, "use && or ||"},
		{`data.a == 'x'`, 11, "double quotes"},
		{`amount > 1`, 1, `unknown name "amount"`},
		{`data. > 1`, 7, "expected a field name"},
		{`data.a[x]`, 8, "expected a quoted key or an index"},
		{`data.a[-1]`, 8, "non-negative integer"},
		{`data.a[1.5]`, 8, "non-negative integer"},
		{`data.a["k"`, 11, `expected "]"`},
		{`type.x == 1`, 1, "type is a string"},
		{`(data.a == 1`, 13, `expected ")"`},
		{`data.a == 1)`, 12, "unexpected \")\""},
		{`data.a == "unterminated`, 11, "string not closed"},
		{`data.a == "bad \q"`, 11, "invalid string literal"},
		{`data.a == 1.2.3`, 11, `invalid number "1.2.3"`},
		{`data.a == 1e999`, 11, "invalid number"},
		{`data.a matches data.b`, 16, "matches takes a string literal"},
		{`data.a matches "(["`, 16, "bad regular expression"},
		{`data.a == 1 == 2`, 13, "comparisons do not chain"},
		{`exists(1)`, 8, "expected a path"},
		{`exists data.a`, 8, `expected "("`},
		{`data.a == [1, 2`, 16, `expected ","`},
		{`data.ä == 1`, 6, "unexpected character 'ä'"},
		{`"ü" == data.x @`, 15, "unexpected character '@'"},
		{`data.a == 1 data.b`, 13, "expected an operator or the end"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			_, err := trigger.Compile(tt.src)
			require.Error(t, err)
			var se *trigger.SyntaxError
			require.True(t, errors.As(err, &se), "%v", err)
			require.Equal(t, tt.column, se.Column, "%v", err)
			require.Contains(t, se.Msg, tt.msg)
		})
	}
}

func TestCompileLimits(t *testing.T) {
	t.Parallel()
	deep := ""
	for range 100 {
		deep += "("
	}
	_, err := trigger.Compile(deep + "true")
	require.ErrorContains(t, err, "nested more than 64 deep")
	long := make([]byte, trigger.MaxFilterLength+1)
	for i := range long {
		long[i] = ' '
	}
	_, err = trigger.Compile(string(long))
	require.ErrorContains(t, err, "longer than")
}
