package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeFilesAreTheExamples checks that every README block whose info
// string names a file ("```yaml examples/flows/hello.yaml") shows that
// file as it is, its leading comment aside, so that the README cannot
// drift from the examples the tests run.
func TestReadmeFilesAreTheExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?ms)^```[a-z]+ ((?:examples|docs)/[^\\s`]+)\n(.*?)^```$").FindAllSubmatch(readme, -1)
	if len(blocks) < 2 {
		t.Fatalf("README shows %d example files, want the hello and shout flows at least", len(blocks))
	}
	for _, b := range blocks {
		name, shown := string(b[1]), string(b[2])
		file, err := os.ReadFile(filepath.Join("../..", name))
		if err != nil {
			t.Errorf("README shows %s: %v", name, err)
			continue
		}
		if body := withoutLeadingComment(string(file)); body != shown {
			t.Errorf("README's %s differs from the file:\n--- README\n%s--- file\n%s", name, shown, body)
		}
	}
}

// withoutLeadingComment drops a file's first lines while they are
// comments or blank.
func withoutLeadingComment(s string) string {
	for s != "" && (strings.HasPrefix(s, "#") || strings.HasPrefix(s, "\n")) {
		_, s, _ = strings.Cut(s, "\n")
	}
	return s
}

// TestRunShout runs the README's two-step flow file in-process.
func TestRunShout(t *testing.T) {
	out, code := runMain(t, "run", "../../examples/flows/shout.yaml", `{"who": "you"}`)
	if code != 0 || !strings.Contains(out, `"loud":"HELLO, YOU\n"`) {
		t.Errorf("run shout: exit %d, output:\n%s", code, out)
	}
}
