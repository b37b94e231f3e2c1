// Package runtime holds the task types loom runs without any Go code of the
// user's: exec (a command, package execrt) and http (a request, package
// httprt). An engine registers them unless told otherwise, so a task or a
// flow file can use them by name on any machine. The loom binary narrows
// them: its servers and workers register exec only when the operator
// allows it (--allow-exec), and give http a client that stays off private
// networks (package internal/netguard).
package runtime

import (
	"github.com/loomhq/loom"
	"github.com/loomhq/loom/runtime/execrt"
	"github.com/loomhq/loom/runtime/httprt"
)

// Builtins returns the built-in task types by name, each with its default
// configuration: execrt.TypeName ("exec") and httprt.TypeName ("http"). The
// map is new on every call, so callers may add their own types to it.
func Builtins() map[string]loom.Handler {
	return map[string]loom.Handler{
		execrt.TypeName: execrt.New(execrt.Config{}),
		httprt.TypeName: httprt.New(httprt.Config{}),
	}
}
