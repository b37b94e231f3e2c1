package flowfile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/runtime/execrt"
	"github.com/loomhq/loom/runtime/httprt"
)

// Resolver finds the task a "type:" step runs. A server passes its registry
// of task types; a program can pass a Tasks map.
type Resolver interface {
	// Lookup returns the task registered as taskType, or false when there
	// is none.
	Lookup(taskType string) (*loom.Task, bool)
}

// Tasks is a Resolver over a map from task type to task, for programs and
// tests that know their task types up front.
type Tasks map[string]*loom.Task

var _ Resolver = Tasks(nil)

// Lookup returns t[taskType].
func (t Tasks) Lookup(taskType string) (*loom.Task, bool) {
	task, ok := t[taskType]
	return task, ok && task != nil
}

// dockerType and kubernetesType are the container runtimes' type names
// (dockerrt.TypeName, k8srt.TypeName), spelt here so that flow files do
// not pull in their clients.
const (
	dockerType     = "docker"
	kubernetesType = "kubernetes"
)

// Build turns f into a flow: a *loom.Task named f.Name, whose timeout is
// f.Timeout, ready to run on any executor or to register with a server.
// Each step's task is named "<flow>/<step>", so the engine runs every step
// as a task type of its own.
//
// exec and http steps run the handler reg resolves "exec" or "http" to (a
// server passes its guarded http client that way), else the built-in
// runtimes (packages execrt and httprt, default configuration); docker
// steps run reg's "docker" handler, which has no default (ErrNoDocker),
// given what the step receives as its "input"; all with their
// templates rendered against the step's input at run time; a template that uses an input the run does not
// have fails the step permanently. "type:" steps run the task reg resolves,
// with the step's retry and timeout, if set, in place of the task's own; a
// type reg does not know falls back to the built-in "exec" or "http" of that
// name. reg may be nil when no step has a type.
//
// Static "input:" values are merged under the values the step receives:
// where both have a key, the received (required) value wins. A "type: exec"
// "type: docker" or "type: kubernetes" step receives only the inputs it requires (none without "requires:"),
// so the command stays the one the file names unless the file wires it. A step with
// static input wraps its task's handler, so a nested flow given static input
// runs as a plain handler.
//
// Errors are *Error: an unknown task type at the step's type line, and what
// loom.NewFlow rejects (a cycle, a duplicate provided key) at the line of
// the step it names.
func (f *File) Build(reg Resolver) (*loom.Task, error) {
	rt := runtimes{
		exec:   runtimeOf(reg, execrt.TypeName, execrt.New(execrt.Config{})),
		http:   runtimeOf(reg, httprt.TypeName, httprt.New(httprt.Config{})),
		docker: runtimeOf(reg, dockerType, nil),
	}
	def := loom.FlowDef{Inputs: slices.Clone(f.Inputs)}
	for _, s := range f.Steps {
		t, err := f.stepTask(s, reg, rt)
		if err != nil {
			return nil, err
		}
		requires := maps.Clone(s.Requires)
		if (s.Type == execrt.TypeName || s.Type == dockerType || s.Type == kubernetesType) && requires == nil {
			// Without requires a step receives every input the flow was
			// given, and what it receives wins over its static input: a
			// submitter's "command" (or "image") would replace the
			// operator's.
			requires = map[string]string{}
		}
		step := loom.Step{
			Name:      s.Name,
			Task:      t,
			Requires:  requires,
			Provides:  maps.Clone(s.Provides),
			DependsOn: slices.Clone(s.DependsOn),
		}
		if s.FanOut != nil {
			fo := *s.FanOut
			step.FanOut = &fo
		}
		if s.If != "" {
			cond, err := parseCondition(s.If)
			if err != nil {
				return nil, &Error{File: f.Filename, Line: s.ifLine, Step: s.Name, Msg: "if: bad condition: " + templateMessage(err)}
			}
			step.If = func(data loom.Values) bool { return holds(cond, data) }
		}
		if s.Compensate != nil {
			if step.Compensate, err = f.stepTask(s.Compensate, reg, rt); err != nil {
				return nil, err
			}
		}
		def.Steps = append(def.Steps, step)
	}
	flow, err := loom.NewFlow(f.Name, def)
	if err != nil {
		return nil, f.flowError(err)
	}
	flow.Timeout = f.Timeout
	return flow, nil
}

// runtimes are the handlers of exec, http and docker steps; docker is nil
// when reg has no "docker" type.
type runtimes struct {
	exec, http, docker loom.Handler
}

// ErrNoDocker is wrapped by Build's error for a file with a docker step
// when the Resolver has no "docker" task type: containers run only where
// they are allowed.
var ErrNoDocker = errors.New(`no "docker" task type to run docker steps`)

// runtimeOf returns the handler reg resolves name to, or def.
func runtimeOf(reg Resolver, name string, def loom.Handler) loom.Handler {
	if reg != nil {
		if t, ok := reg.Lookup(name); ok && t.Handler != nil {
			return t.Handler
		}
	}
	return def
}

// stepTask returns the task step s runs.
func (f *File) stepTask(s *Step, reg Resolver, rt runtimes) (*loom.Task, error) {
	stepErr := func(line int, format string, args ...any) error {
		return &Error{File: f.Filename, Line: line, Step: s.Name, Msg: fmt.Sprintf(format, args...)}
	}
	var t loom.Task
	switch {
	case s.Exec != nil, s.HTTP != nil, s.Docker != nil:
		name, input, next := execrt.TypeName, s.Exec, rt.exec
		switch {
		case s.HTTP != nil:
			name, input, next = httprt.TypeName, s.HTTP, rt.http
		case s.Docker != nil:
			name, input, next = dockerType, s.Docker, rt.docker
			if next == nil {
				return nil, &Error{File: f.Filename, Line: s.Line, Step: s.Name,
					Msg: ErrNoDocker.Error() + " (loom server, worker and run: --allow-docker)", err: ErrNoDocker}
			}
		}
		sp, err := compile(input)
		if err != nil {
			return nil, stepErr(s.Line, "%s: %v", name, err)
		}
		t = loom.Task{Name: name, Handler: &templated{step: s.Name, spec: sp, static: s.Input, next: next, passInput: s.Docker != nil}}
	case s.Type != "":
		var found *loom.Task
		if reg != nil {
			found, _ = reg.Lookup(s.Type)
		}
		switch {
		case found != nil:
			t = *found
		case s.Type == execrt.TypeName:
			t = loom.Task{Name: execrt.TypeName, Handler: rt.exec}
		case s.Type == httprt.TypeName:
			t = loom.Task{Name: httprt.TypeName, Handler: rt.http}
		default:
			return nil, stepErr(s.typeLine, "unknown task type %q", s.Type)
		}
		if len(s.Input) > 0 {
			t.Handler = &withInput{static: s.Input, next: t.Handler}
		}
	default:
		return nil, stepErr(s.Line, "needs one of exec, http, docker or type")
	}
	if s.Retry != nil {
		rp := *s.Retry
		t.Retry = &rp
	}
	if s.Timeout > 0 {
		t.Timeout = s.Timeout
	}
	// Each step gets a task type of its own, "<flow>/<step>": its handler
	// carries the step's templates, static input, retry and timeout, and the
	// durable engine registers a flow's steps by task name, so two exec
	// steps (or a registered type used with different settings) must not
	// share one.
	t.Name = f.Name + "/" + s.Name
	return &t, nil
}

// flowError turns an error of loom.NewFlow into an *Error at the line of
// the step it names.
func (f *File) flowError(err error) error {
	e := &Error{File: f.Filename, Msg: err.Error(), err: err}
	var fe *loom.FlowError
	if errors.As(err, &fe) {
		e.Msg, e.Step = fe.Msg, fe.Step
		for _, s := range f.Steps {
			if s.Name == fe.Step {
				e.Line = s.Line
				break
			}
		}
	}
	return e
}

// merge returns static overlaid with in: what the step receives wins.
func merge(static, in loom.Values) loom.Values {
	out := static.Clone()
	maps.Copy(out, in)
	return out
}

// withInput adds a step's static input to what its task receives.
type withInput struct {
	static loom.Values
	next   loom.Handler
}

func (h *withInput) Handle(ctx context.Context, in loom.Values) (loom.Values, error) {
	return h.next.Handle(ctx, merge(h.static, in))
}

// templated renders an exec, http or docker step's input from what the
// step receives, then runs the runtime with it.
type templated struct {
	step   string
	spec   spec
	static loom.Values
	next   loom.Handler
	// passInput gives the runtime what the step receives as its "input"
	// (a docker step's container reads it as JSON).
	passInput bool
}

func (h *templated) Handle(ctx context.Context, in loom.Values) (loom.Values, error) {
	data := merge(h.static, in)
	rendered, err := h.spec.render(data)
	if err != nil {
		// The same input renders the same way on every attempt.
		return nil, loom.Permanent(fmt.Errorf("step %q: %w", h.step, err))
	}
	if h.passInput {
		rendered["input"] = map[string]any(data)
	}
	return h.next.Handle(ctx, rendered)
}
