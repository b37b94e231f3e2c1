package flowfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/loomhq/loom"
)

// File is a parsed and checked flow file. Parse fills it in; Build turns it
// into a runnable flow. Its fields are for tools that list flows (a server
// showing descriptions and schedules); change them only before Build.
type File struct {
	// Filename is the name the file was parsed under, used in errors.
	Filename string
	// Name is the flow's name: the task type it is submitted as. Required.
	Name string
	// Description says what the flow is for, for people. Optional.
	Description string
	// Inputs are the keys a caller passes to the flow.
	Inputs []string
	// Timeout bounds a whole run of the flow; zero means no bound.
	Timeout time.Duration
	// Schedules are the cron schedules the file declares for the flow,
	// checked (expression, time zone, policies, input); a server creates
	// them, `loom run` ignores them. Nil means none.
	Schedules []*Schedule
	// AllowExec are command patterns, as package execrt's Allowlist takes
	// them, that the file lets submitted exec tasks run: a server loading
	// it admits exec tasks whose command matches one (its own exec steps
	// need none). Parse checks each pattern. Nil means none.
	AllowExec []string
	// Steps are the flow's steps, in file order.
	Steps []*Step

	line int // the line of the name key
}

// Step is one step of a flow file. Exactly one of Exec, HTTP, Docker and
// Type is set.
type Step struct {
	// Name names the step within the flow. Required, unique.
	Name string
	// Line is where the step begins in the file.
	Line int
	// Exec is the input of an exec step (see package execrt), with the
	// shorthand list form turned into {"command": [...]}. Its strings may
	// hold templates, rendered at run time.
	Exec loom.Values
	// HTTP is the input of an http step (see package httprt). Its url,
	// header values and body strings may hold templates.
	HTTP loom.Values
	// Docker is the input of a docker step (see package dockerrt) without
	// its "input", which is the values the step receives, given to the
	// container as JSON. Its image, command, env values, workdir and user
	// may hold templates.
	Docker loom.Values
	// Type is the task type of a step that runs a registered task, found
	// through the Resolver given to Build.
	Type string
	// Input holds static input values. They are merged with the values
	// Requires wires in, which win on a clash; in exec and http steps they
	// are visible to templates.
	Input loom.Values
	// Requires maps the step's input names to flow keys (loom.Step's
	// Requires). Nil means the step gets the flow's inputs.
	Requires map[string]string
	// Provides maps the step's output names to flow keys.
	Provides map[string]string
	// DependsOn names steps that must end first.
	DependsOn []string
	// Retry is the step's retry policy; nil keeps the task's own (one
	// attempt for exec and http steps).
	Retry *loom.RetryPolicy
	// Timeout bounds each attempt; zero keeps the task's own.
	Timeout time.Duration
	// FanOut, when set, runs the step once per item of a list.
	FanOut *loom.FanOut
	// If, when set, is the step's condition: a text/template pipeline
	// (`.full`, `eq .mode "full"`) over the flow's data, the step skipped
	// unless it is true (loom.Step's If). Empty means always run.
	If string
	// Compensate, when set, is what undoes the step if the flow fails
	// after it completed (loom.Step's Compensate): a step of its own kind
	// (exec, http, docker or type, with input, retry and timeout) whose input is
	// the step's input merged with its output.
	Compensate *Step

	typeLine int // the line of the type key, for an unknown type
	ifLine   int // the line of the if key
}

// Parse parses and checks the flow file data, naming it filename in errors.
// Every problem it finds is reported as an *Error with the line it is on;
// Parse returns the first one. Checks that need the task types (an unknown
// type) or the DAG (a cycle) happen in Build.
func Parse(filename string, data []byte) (*File, error) {
	p := &parser{file: filename, budget: maxNodes}
	return p.parse(data)
}

// Load reads and parses the flow file at path.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("flowfile: %w", err)
	}
	return Parse(path, data)
}

// LoadDir loads every flow file (*.yaml and *.yml) directly in dir, in
// name order, so that a server can keep its flows in one directory. It
// returns every file that parsed, and the errors of those that did not
// joined into one; two files defining the same flow name, or schedules of
// the same name, is an error in the second.
func LoadDir(dir string) ([]*File, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("flowfile: %w", err)
	}
	var (
		files []*File
		errs  []error
		seen  = map[string]*File{}
		names = map[string]*File{} // schedule names
	)
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || ext != ".yaml" && ext != ".yml" {
			continue
		}
		f, err := Load(filepath.Join(dir, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if first, ok := seen[f.Name]; ok {
			errs = append(errs, &Error{File: f.Filename, Line: f.line, Msg: fmt.Sprintf("flow %q is already defined in %s", f.Name, first.Filename)})
			continue
		}
		if err := scheduleClash(f, names); err != nil {
			errs = append(errs, err)
			continue
		}
		seen[f.Name] = f
		files = append(files, f)
	}
	return files, errors.Join(errs...)
}

// scheduleClash reports a schedule of f named like one of an earlier file
// (in names), and adds f's schedules to names.
func scheduleClash(f *File, names map[string]*File) error {
	for _, s := range f.Schedules {
		if first, ok := names[s.Def.Name]; ok {
			return &Error{File: f.Filename, Line: s.Line, Msg: fmt.Sprintf("schedule %q is already declared in %s", s.Def.Name, first.Filename)}
		}
	}
	for _, s := range f.Schedules {
		names[s.Def.Name] = f
	}
	return nil
}
