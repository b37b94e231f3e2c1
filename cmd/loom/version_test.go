package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionCommand checks that `loom version`, `--version` and
// `version --json` print the same version and commit.
func TestVersionCommand(t *testing.T) {
	want := currentVersion()
	out, code := runMain(t, "version")
	if code != 0 || out != "loom "+want.String()+"\n" {
		t.Errorf("version: exit %d, %q; want %q", code, out, "loom "+want.String())
	}
	out, code = runMain(t, "--version")
	if code != 0 || out != "loom "+want.String()+"\n" {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	out, code = runMain(t, "version", "--json")
	var got buildVersion
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got != want {
		t.Errorf("version --json: exit %d, %q; want %+v", code, out, want)
	}
}

// TestReadVersion checks where the version and commit come from: the
// -X overrides first, then the build information's module version and
// vcs.revision (marked dirty when vcs.modified), then placeholders.
func TestReadVersion(t *testing.T) {
	info := &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"},
	}}
	if v := readVersion(info); v.Version != "v1.4.0" || v.Commit != "abc123+dirty" {
		t.Errorf("from build info: %+v", v)
	}
	if v := readVersion(nil); v.Version != "(devel)" || v.Commit != "unknown" {
		t.Errorf("without build info: %+v", v)
	}
	version, commit = "v9.9.9", "feedbeef"
	t.Cleanup(func() { version, commit = "", "" })
	if v := readVersion(info); v.Version != "v9.9.9" || v.Commit != "feedbeef" {
		t.Errorf("with -X overrides: %+v", v)
	}
}

// TestVersionLdflags builds the binary as the Makefile's build target does
// and checks that the -X values are what it prints.
func TestVersionLdflags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "loom")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v0.0.0-test -X main.commit=c0ffee", "-o", bin, ".")
	build.Env = os.Environ()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("loom version: %v", err)
	}
	if !strings.HasPrefix(string(out), "loom v0.0.0-test (commit c0ffee, go") {
		t.Errorf("loom version = %q", out)
	}
}
