// Package runtime holds the task types loom runs without any Go code of the
// user's: exec (a command, package execrt) and http (a request, package
// httprt). Every loom server and worker registers them, so a task or a flow
// file can use them by name on any machine.
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
