package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestUIShowsRealCommands checks that every `loom ...` command the web
// UI's pages suggest names a command and flags that exist.
func TestUIShowsRealCommands(t *testing.T) {
	files, err := filepath.Glob("../../ui/templates/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("templates: %v", err)
	}
	code := regexp.MustCompile(`<code>loom ([^<]*)</code>`)
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, sub := range code.FindAllStringSubmatch(string(b), -1) {
			seen++
			words := strings.Fields(sub[1])
			m := NewMain()
			m.Getenv = func(string) string { return "" }
			root := m.newRootCommand()
			cmd, rest, err := root.Find(words)
			if err != nil || cmd == root {
				t.Errorf("%s: `loom %s`: no such command (%v)", filepath.Base(f), sub[1], err)
				continue
			}
			var args []string
			for _, w := range rest {
				if !strings.HasPrefix(w, "-") {
					args = append(args, w)
				}
			}
			if cmd.HasSubCommands() && len(args) > 0 {
				t.Errorf("%s: `loom %s`: %s has no command %s", filepath.Base(f), sub[1], cmd.CommandPath(), args[0])
				continue
			}
			for _, w := range rest {
				name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
				if strings.HasPrefix(w, "-") && cmd.Flags().Lookup(name) == nil {
					t.Errorf("%s: `loom %s`: %s has no flag %s", filepath.Base(f), sub[1], cmd.CommandPath(), w)
				}
			}
		}
	}
	if seen < 4 {
		t.Errorf("found %d commands in the templates, want the empty states' at least", seen)
	}
}
