package main

import (
	"strings"
	"testing"
)

// TestInputErrorsNameTheirSource checks that input that is not a JSON
// object is blamed on where the user wrote it: the argument or --input.
func TestInputErrorsNameTheirSource(t *testing.T) {
	for _, c := range []struct {
		args []string
		flag string
		want string
	}{
		{[]string{"t", "not json"}, "", "the input argument must be a JSON object"},
		{[]string{"t", "[1]"}, "", "the input argument must be a JSON object"},
		{[]string{"t"}, "nope", "--input must be a JSON object"},
		{[]string{"t"}, `{"a":1} {"b":2}`, "--input must be a JSON object"},
	} {
		_, err := inputArg(c.args, c.flag)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("inputArg(%q, %q) = %v, want an error containing %q", c.args, c.flag, err, c.want)
		}
	}
	in, err := inputArg([]string{"t", `{"n": 12345678901234567890}`}, "")
	if err != nil || in["n"] == nil {
		t.Fatalf("inputArg of an object: %v, %v", in, err)
	}
	if got := compactJSON(map[string]string{"command": "echo oops >&2 <x>"}); got != `{"command":"echo oops >&2 <x>"}` {
		t.Errorf("compactJSON = %s, want the text as written", got)
	}
}
