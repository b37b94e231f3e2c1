package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit name the build. The Makefile's build target sets
// them with -ldflags -X; left empty, they are read from the build
// information the Go toolchain embeds (the module version, "(devel)" for a
// build from a checkout, and the VCS revision).
var (
	version string
	commit  string
)

// buildVersion is what `loom version` prints: the version, the commit
// (with "+dirty" when the tree had uncommitted changes) and the Go version.
type buildVersion struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
}

// String is the one-line form, such as "v1.2.0 (commit 1a2b3c4, go1.26.8)".
func (v buildVersion) String() string {
	return fmt.Sprintf("%s (commit %s, %s)", v.Version, v.Commit, v.Go)
}

// readVersion combines the -X overrides with the embedded build
// information; info is debug.ReadBuildInfo's answer, nil when there is none.
func readVersion(info *debug.BuildInfo) buildVersion {
	v := buildVersion{Version: version, Commit: commit, Go: runtime.Version()}
	if info != nil {
		if v.Version == "" {
			v.Version = info.Main.Version
		}
		if v.Commit == "" {
			dirty := false
			for _, s := range info.Settings {
				switch s.Key {
				case "vcs.revision":
					v.Commit = s.Value
				case "vcs.modified":
					dirty = s.Value == "true"
				}
			}
			if v.Commit != "" && dirty {
				v.Commit += "+dirty"
			}
		}
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	return v
}

// currentVersion is this binary's version.
func currentVersion() buildVersion {
	info, _ := debug.ReadBuildInfo()
	return readVersion(info)
}

func (m *Main) newVersionCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the build's version and commit",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := currentVersion()
			if g.json {
				return printJSON(cmd.OutOrStdout(), v)
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "loom %s\n", v)
			return err
		},
	}
}
