package flowfile

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeNamesEveryField checks that the README's reference of flow
// files names every field a step and its parts accept, so a field cannot
// be added without being documented, and that it says how to get a
// binary.
func TestReadmeNamesEveryField(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for part, fields := range map[string][]string{
		"file": fileFields, "step": stepFields, "compensate": compensateFields, "exec": execFields,
		"http": httpFields, "retry": retryFields, "fan_out": fanOutFields,
	} {
		for _, f := range fields {
			if !regexp.MustCompile(`[^A-Za-z_]` + f + `[^A-Za-z_]`).MatchString(readme) {
				t.Errorf("the README does not name the %s field %s", part, f)
			}
		}
	}
	// What each step kind outputs, as provides: checks them.
	for _, out := range []string{"`stdout`", "`exit_code`", "`status`", "`headers`", "`body`", "`results`", "`errors`", "`failed`"} {
		if !strings.Contains(readme, out) {
			t.Errorf("the README does not name the output %s", out)
		}
	}
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(readme, "`make build`") || !strings.Contains(string(mk), "\nbuild:") {
		t.Errorf("the README does not say `make build` builds the binary, or the Makefile has no build target")
	}
}
