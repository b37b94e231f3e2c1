package flowfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/runtime/execrt"
)

// Limits that keep a hostile file from costing much: anchors and aliases
// can make a small file expand to a huge value.
const (
	maxNodes = 100_000 // values visited, aliases expanded
	maxDepth = 64      // nesting of mappings and lists, and of alias chains
)

// nameRE is what flow and step names may look like: they appear in URLs,
// metrics and command lines.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// The fields each level of a flow file may have, in the order error
// messages list them.
var (
	fileFields       = []string{"name", "description", "inputs", "timeout", "schedule", "allow_exec", "steps"}
	stepFields       = []string{"name", "exec", "http", "docker", "type", "input", "requires", "provides", "depends_on", "retry", "timeout", "fan_out", "if", "compensate"}
	compensateFields = []string{"exec", "http", "docker", "type", "input", "retry", "timeout"}
	kindFields       = []string{"exec", "http", "docker", "type"}
	execFields       = []string{"command", "env", "dir", "stdin", "timeout"}
	httpFields       = []string{"method", "url", "headers", "body", "timeout"}
	dockerFields     = []string{"image", "command", "env", "workdir", "mounts", "cpus", "memory", "network", "user", "pull", "timeout"}
	retryFields      = []string{"max_attempts", "initial_delay", "backoff_factor", "max_delay", "jitter"}
	fanOutFields     = []string{"over", "as", "parallelism", "on_failure"}
)

// httpMethods are the methods an http step may use: those net/http names.
var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

// parser walks the YAML node tree of one file, checking as it goes, so that
// every error carries the line of the node at fault.
type parser struct {
	file   string
	step   string          // the step being parsed, named in errors
	budget int             // nodes left to visit
	known  map[string]bool // the current step's inputs, for templates; nil: not checked
}

// field is one key and its value in a mapping.
type field struct {
	name     string
	key, val *yaml.Node
}

// errorf returns an *Error at n's line in the current step.
func (p *parser) errorf(n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{File: p.file, Line: line, Step: p.step, Msg: fmt.Sprintf(format, args...)}
}

// at prefixes msg with where in a step it applies ("retry", "exec").
func at(path, msg string) string {
	if path == "" {
		return msg
	}
	return path + ": " + msg
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a YAML parser error into an *Error with its line.
func (p *parser) syntaxError(err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: p.file, Line: line, Msg: m[2]}
	}
	return &Error{File: p.file, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// document parses data as exactly one YAML document and returns its root.
func (p *parser) document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: p.file, Msg: "file is empty"}
		}
		return nil, p.syntaxError(err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, p.syntaxError(err)
	default:
		return nil, p.errorf(&extra, "a flow file holds one YAML document; remove the second")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, &Error{File: p.file, Msg: "file is empty"}
	}
	return doc.Content[0], nil
}

// resolve follows aliases and counts n against the budget.
func (p *parser) resolve(n *yaml.Node) (*yaml.Node, error) {
	for i := 0; n.Kind == yaml.AliasNode; i++ {
		if n.Alias == nil || i >= maxDepth {
			return nil, p.errorf(n, "alias *%s cannot be resolved", n.Value)
		}
		n = n.Alias
	}
	p.budget--
	if p.budget < 0 {
		return nil, p.errorf(n, "too many values: aliases expand to more than %d", maxNodes)
	}
	return n, nil
}

// describe names the kind of value n holds, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing"
		case "!!bool":
			return "a boolean"
		case "!!int", "!!float":
			return "a number"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// mapping returns the fields of the mapping n, rejecting duplicate keys.
func (p *parser) mapping(n *yaml.Node, path string) ([]field, error) {
	n, err := p.resolve(n)
	if err != nil {
		return nil, err
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errorf(n, "%s", at(path, "want a mapping, got "+describe(n)))
	}
	fields := make([]field, 0, len(n.Content)/2)
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, err := p.resolve(n.Content[i])
		if err != nil {
			return nil, err
		}
		if k.Kind != yaml.ScalarNode || k.Tag == "!!null" {
			return nil, p.errorf(k, "%s", at(path, "keys must be strings, got "+describe(k)))
		}
		if k.Tag == "!!merge" {
			return nil, p.errorf(k, "%s", at(path, "merge keys (<<) are not supported"))
		}
		if line, dup := first[k.Value]; dup {
			return nil, p.errorf(k, "%s", at(path, fmt.Sprintf("duplicate key %q (first on line %d)", k.Value, line)))
		}
		first[k.Value] = k.Line
		fields = append(fields, field{name: k.Value, key: k, val: n.Content[i+1]})
	}
	return fields, nil
}

// allowed checks that every field is one of names.
func (p *parser) allowed(fields []field, path string, names []string) error {
	for _, f := range fields {
		if !slices.Contains(names, f.name) {
			return p.errorf(f.key, "%s", at(path, fmt.Sprintf("unknown field %q (want one of %s)", f.name, strings.Join(names, ", "))))
		}
	}
	return nil
}

// byName indexes fields by name.
func byName(fields []field) map[string]field {
	m := make(map[string]field, len(fields))
	for _, f := range fields {
		m[f.name] = f
	}
	return m
}

// str returns the scalar n as a string; numbers and booleans are taken as
// written.
func (p *parser) str(n *yaml.Node, path string) (string, error) {
	n, err := p.resolve(n)
	if err != nil {
		return "", err
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", p.errorf(n, "%s", at(path, "want a string, got "+describe(n)))
	}
	return n.Value, nil
}

// nonEmpty returns the scalar n as a string that must not be empty.
func (p *parser) nonEmpty(n *yaml.Node, path string) (string, error) {
	s, err := p.str(n, path)
	if err == nil && s == "" {
		err = p.errorf(n, "%s", at(path, "must not be empty"))
	}
	return s, err
}

// name returns n as a flow or step name.
func (p *parser) name(n *yaml.Node, path string) (string, error) {
	s, err := p.str(n, path)
	if err == nil && !nameRE.MatchString(s) {
		err = p.errorf(n, "%s", at(path, fmt.Sprintf("%q is not a valid name: use letters, digits, '_', '-' and '.', at most 128", s)))
	}
	return s, err
}

// list returns the elements of the list n.
func (p *parser) list(n *yaml.Node, path string) ([]*yaml.Node, error) {
	n, err := p.resolve(n)
	if err != nil {
		return nil, err
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errorf(n, "%s", at(path, "want a list, got "+describe(n)))
	}
	return n.Content, nil
}

// strList returns the list n of non-empty, distinct strings.
func (p *parser) strList(n *yaml.Node, path string) ([]string, []*yaml.Node, error) {
	items, err := p.list(n, path)
	if err != nil {
		return nil, nil, err
	}
	out := make([]string, 0, len(items))
	for _, item := range items {
		s, err := p.nonEmpty(item, path)
		if err != nil {
			return nil, nil, err
		}
		if slices.Contains(out, s) {
			return nil, nil, p.errorf(item, "%s", at(path, fmt.Sprintf("%q is listed twice", s)))
		}
		out = append(out, s)
	}
	return out, items, nil
}

// strMap returns the mapping n of names to non-empty strings, and the
// value node of each, for errors about them later.
func (p *parser) strMap(n *yaml.Node, path string) (map[string]string, []field, error) {
	fields, err := p.mapping(n, path)
	if err != nil {
		return nil, nil, err
	}
	out := make(map[string]string, len(fields))
	for _, f := range fields {
		if f.name == "" {
			return nil, nil, p.errorf(f.key, "%s", at(path, "keys must not be empty"))
		}
		if out[f.name], err = p.nonEmpty(f.val, path+"."+f.name); err != nil {
			return nil, nil, err
		}
	}
	return out, fields, nil
}

// duration returns the scalar n as a duration like "30s", at least zero.
func (p *parser) duration(n *yaml.Node, path string) (time.Duration, error) {
	s, err := p.str(n, path)
	if err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, p.errorf(n, "%s", at(path, fmt.Sprintf("%q is not a duration (like 30s, 5m or 1h30m)", s)))
	}
	if d < 0 {
		return 0, p.errorf(n, "%s", at(path, fmt.Sprintf("%s is negative", s)))
	}
	return d, nil
}

// positive returns the scalar n as a duration greater than zero.
func (p *parser) positive(n *yaml.Node, path string) (time.Duration, error) {
	d, err := p.duration(n, path)
	if err == nil && d == 0 {
		err = p.errorf(n, "%s", at(path, "must be longer than 0s"))
	}
	return d, err
}

// integer returns the scalar n as a whole number.
func (p *parser) integer(n *yaml.Node, path string) (int, error) {
	n, err := p.resolve(n)
	if err != nil {
		return 0, err
	}
	var i int
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
		return 0, p.errorf(n, "%s", at(path, "want a whole number, got "+describe(n)))
	}
	return i, nil
}

// number returns the scalar n as a finite number.
func (p *parser) number(n *yaml.Node, path string) (float64, error) {
	n, err := p.resolve(n)
	if err != nil {
		return 0, err
	}
	var f float64
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" && n.Tag != "!!float" || n.Decode(&f) != nil ||
		math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, p.errorf(n, "%s", at(path, "want a number, got "+describe(n)))
	}
	return f, nil
}

// seconds returns a runtime's "timeout": a number of seconds, or a duration
// like "30s" turned into seconds.
func (p *parser) seconds(n *yaml.Node, path string) (float64, error) {
	r, err := p.resolve(n)
	if err != nil {
		return 0, err
	}
	if r.Kind == yaml.ScalarNode && (r.Tag == "!!int" || r.Tag == "!!float") {
		s, err := p.number(r, path)
		if err == nil && s < 0 {
			err = p.errorf(r, "%s", at(path, "must not be negative"))
		}
		return s, err
	}
	d, err := p.duration(r, path)
	return d.Seconds(), err
}

// value returns n as a JSON-shaped value: map[string]any, []any, string,
// float64 or int64, bool or nil. With tmpl, its strings are checked as
// templates.
func (p *parser) value(n *yaml.Node, path string, tmpl bool, depth int) (any, error) {
	if depth > maxDepth {
		return nil, p.errorf(n, "%s", at(path, fmt.Sprintf("nested more than %d deep", maxDepth)))
	}
	n, err := p.resolve(n)
	if err != nil {
		return nil, err
	}
	switch n.Kind {
	case yaml.MappingNode:
		fields, err := p.mapping(n, path)
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, len(fields))
		for _, f := range fields {
			if out[f.name], err = p.value(f.val, path, tmpl, depth+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			v, err := p.value(item, path, tmpl, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, p.errorf(n, "%s", at(path, "bad boolean "+strconv.Quote(n.Value)))
			}
			return b, nil
		case "!!int":
			var i int64
			if err := n.Decode(&i); err != nil {
				return nil, p.errorf(n, "%s", at(path, fmt.Sprintf("integer %s is out of range", n.Value)))
			}
			return i, nil
		case "!!float":
			var f float64
			if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, p.errorf(n, "%s", at(path, fmt.Sprintf("number %s cannot be represented in JSON", n.Value)))
			}
			return f, nil
		}
		if tmpl {
			if err := p.checkTemplate(n, path, n.Value); err != nil {
				return nil, err
			}
		}
		return n.Value, nil
	}
	return nil, p.errorf(n, "%s", at(path, "unsupported YAML value"))
}

// templated returns the scalar n as a string checked as a template.
func (p *parser) templated(n *yaml.Node, path string) (string, error) {
	s, err := p.str(n, path)
	if err != nil {
		return "", err
	}
	return s, p.checkTemplate(n, path, s)
}

// checkTemplate parses s as a template and checks that the inputs it uses
// are inputs of the step.
func (p *parser) checkTemplate(n *yaml.Node, path, s string) error {
	t, err := parseTemplate(s)
	if err != nil {
		return p.errorf(n, "%s", at(path, "bad template: "+templateMessage(err)))
	}
	if t == nil || p.known == nil {
		return nil
	}
	for _, ref := range references(t) {
		if !p.known[ref] {
			return p.errorf(n, "%s", at(path, fmt.Sprintf("template uses .%s, which is not an input of the step (%s)", ref, inputList(p.known))))
		}
	}
	return nil
}

// inputList names a step's inputs for an error message.
func inputList(known map[string]bool) string {
	if len(known) == 0 {
		return "it has none"
	}
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	slices.Sort(names)
	return "inputs: " + strings.Join(names, ", ")
}

// parse parses a whole file.
func (p *parser) parse(data []byte) (*File, error) {
	root, err := p.document(data)
	if err != nil {
		return nil, err
	}
	fields, err := p.mapping(root, "")
	if err != nil {
		return nil, err
	}
	if err := p.allowed(fields, "", fileFields); err != nil {
		return nil, err
	}
	fs := byName(fields)
	f := &File{Filename: p.file}

	nf, ok := fs["name"]
	if !ok {
		return nil, p.errorf(root, "name is required")
	}
	if f.Name, err = p.name(nf.val, "name"); err != nil {
		return nil, err
	}
	f.line = nf.key.Line
	if d, ok := fs["description"]; ok {
		if f.Description, err = p.str(d.val, "description"); err != nil {
			return nil, err
		}
	}
	if in, ok := fs["inputs"]; ok {
		if f.Inputs, _, err = p.strList(in.val, "inputs"); err != nil {
			return nil, err
		}
	}
	if t, ok := fs["timeout"]; ok {
		if f.Timeout, err = p.positive(t.val, "timeout"); err != nil {
			return nil, err
		}
	}
	if s, ok := fs["schedule"]; ok {
		if f.Schedules, err = p.schedules(s.val, f); err != nil {
			return nil, err
		}
	}
	if a, ok := fs["allow_exec"]; ok {
		if f.AllowExec, err = p.allowExec(a.val); err != nil {
			return nil, err
		}
	}
	sf, ok := fs["steps"]
	if !ok {
		return nil, p.errorf(root, "steps is required")
	}
	if f.Steps, err = p.steps(sf.val, f); err != nil {
		return nil, err
	}
	return f, nil
}

// allowExec returns the allow_exec list: command patterns as package
// execrt's Allowlist takes them, each checked here so that a bad one is
// reported on its line rather than when a server starts.
func (p *parser) allowExec(n *yaml.Node) ([]string, error) {
	patterns, items, err := p.strList(n, "allow_exec")
	if err != nil {
		return nil, err
	}
	for i, s := range patterns {
		if err := execrt.CheckPattern(s); err != nil {
			return nil, p.errorf(items[i], "allow_exec: %q: %v", s, err)
		}
	}
	return patterns, nil
}

// dependency is one depends_on entry, checked once every step is known.
type dependency struct {
	step *Step
	name string
	node *yaml.Node
}

// steps parses the list of steps, tracking which flow keys are provided so
// far so that every requires names an earlier step's key or a flow input.
func (p *parser) steps(n *yaml.Node, f *File) ([]*Step, error) {
	items, err := p.list(n, "steps")
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, p.errorf(n, "steps: a flow needs at least one step")
	}
	provided := map[string]bool{}
	for _, in := range f.Inputs {
		provided[in] = true
	}
	var (
		steps []*Step
		lines = map[string]int{}
		deps  []dependency
	)
	for i, item := range items {
		s, d, err := p.stepAt(item, i, f, provided, lines)
		if err != nil {
			return nil, err
		}
		steps = append(steps, s)
		deps = append(deps, d...)
	}
	for _, d := range deps {
		p.step = d.step.Name
		if d.name == d.step.Name {
			return nil, p.errorf(d.node, "depends_on: a step cannot depend on itself")
		}
		if _, ok := lines[d.name]; !ok {
			return nil, p.errorf(d.node, "depends_on: no step is named %q", d.name)
		}
	}
	p.step = ""
	return steps, nil
}

// stepAt parses the step at index i of the list.
func (p *parser) stepAt(n *yaml.Node, i int, f *File, provided map[string]bool, lines map[string]int) (*Step, []dependency, error) {
	p.step, p.known = "", nil
	path := fmt.Sprintf("steps[%d]", i)
	fields, err := p.mapping(n, path)
	if err != nil {
		return nil, nil, err
	}
	fs := byName(fields)
	s := &Step{Line: n.Line}
	if r, err := p.resolve(n); err == nil {
		s.Line = r.Line
	}
	nf, ok := fs["name"]
	if !ok {
		return nil, nil, p.errorf(n, "%s", at(path, "name is required"))
	}
	if s.Name, err = p.name(nf.val, path+".name"); err != nil {
		return nil, nil, err
	}
	p.step = s.Name
	if line, dup := lines[s.Name]; dup {
		return nil, nil, p.errorf(nf.val, "duplicate step name (first on line %d)", line)
	}
	lines[s.Name] = s.Line
	if err := p.allowed(fields, "", stepFields); err != nil {
		return nil, nil, err
	}

	// What the step's inputs are decides which templates and fan-outs are
	// valid, so read them first.
	if r, ok := fs["requires"]; ok {
		var entries []field
		if s.Requires, entries, err = p.strMap(r.val, "requires"); err != nil {
			return nil, nil, err
		}
		for _, e := range entries {
			if key := s.Requires[e.name]; !provided[key] {
				return nil, nil, p.errorf(e.val, "requires key %q is not provided by any earlier step or flow input", key)
			}
		}
	}
	if in, ok := fs["input"]; ok {
		v, err := p.value(in.val, "input", false, 0)
		if err != nil {
			return nil, nil, err
		}
		m, isMap := v.(map[string]any)
		if !isMap {
			return nil, nil, p.errorf(in.val, "input: want a mapping of input names to values")
		}
		s.Input = loom.Values(m)
	}
	inputs := map[string]bool{}
	if s.Requires != nil {
		for k := range s.Requires {
			inputs[k] = true
		}
	} else {
		for _, k := range f.Inputs {
			inputs[k] = true
		}
	}
	for k := range s.Input {
		inputs[k] = true
	}
	if fo, ok := fs["fan_out"]; ok {
		if s.FanOut, err = p.fanOut(fo.val, inputs); err != nil {
			return nil, nil, err
		}
		inputs[s.FanOut.As] = true
	}
	p.known = inputs

	if err := p.kind(n, fs, s); err != nil {
		return nil, nil, err
	}
	p.known = nil

	if pr, ok := fs["provides"]; ok {
		var entries []field
		if s.Provides, entries, err = p.strMap(pr.val, "provides"); err != nil {
			return nil, nil, err
		}
		if kind, outs := stepOutputs(s); outs != nil {
			for _, e := range entries {
				if !slices.Contains(outs, e.name) {
					return nil, nil, p.errorf(e.key, "provides: %s has no output %q; it outputs %s", kind, e.name, strings.Join(outs, ", "))
				}
			}
		}
	}
	var deps []dependency
	if d, ok := fs["depends_on"]; ok {
		var nodes []*yaml.Node
		if s.DependsOn, nodes, err = p.strList(d.val, "depends_on"); err != nil {
			return nil, nil, err
		}
		for j, name := range s.DependsOn {
			deps = append(deps, dependency{step: s, name: name, node: nodes[j]})
		}
	}
	if r, ok := fs["retry"]; ok {
		if s.Retry, err = p.retry(r.val); err != nil {
			return nil, nil, err
		}
	}
	if t, ok := fs["timeout"]; ok {
		if s.Timeout, err = p.positive(t.val, "timeout"); err != nil {
			return nil, nil, err
		}
	}
	if c, ok := fs["if"]; ok {
		if s.If, err = p.condition(c.val, provided); err != nil {
			return nil, nil, err
		}
		s.ifLine = c.val.Line
	}
	if c, ok := fs["compensate"]; ok {
		if s.Compensate, err = p.compensation(c.val, s); err != nil {
			return nil, nil, err
		}
	}
	// Keys this step provides are available to the steps after it.
	for _, key := range s.Provides {
		provided[key] = true
	}
	return s, deps, nil
}

// stepOutputs names the outputs a step produces, for checking its
// provides, and the kind of step that makes them; outs is nil for a type
// step, whose task's outputs are its own.
func stepOutputs(s *Step) (kind string, outs []string) {
	switch {
	case s.FanOut != nil:
		return "a fan-out step", []string{"results", "errors", "failed"}
	case s.Exec != nil:
		return "an exec step", []string{"stdout", "exit_code"}
	case s.HTTP != nil:
		return "an http step", []string{"status", "headers", "body"}
	case s.Docker != nil:
		return "a docker step", []string{"stdout", "exit_code", "output"}
	}
	return "", nil
}

// kind parses the one of exec, http, docker and type the step has.
func (p *parser) kind(n *yaml.Node, fs map[string]field, s *Step) error {
	var present []field
	for _, k := range kindFields {
		if f, ok := fs[k]; ok {
			present = append(present, f)
		}
	}
	slices.SortFunc(present, func(a, b field) int { return a.key.Line - b.key.Line })
	switch len(present) {
	case 0:
		return p.errorf(n, "needs one of exec, http, docker or type")
	case 1:
	default:
		return p.errorf(present[1].key, "has both %s and %s; a step runs exactly one of exec, http, docker or type", present[0].name, present[1].name)
	}
	var err error
	switch k := present[0]; k.name {
	case "exec":
		s.Exec, err = p.execSpec(k.val)
	case "http":
		s.HTTP, err = p.httpSpec(k.val)
	case "docker":
		s.Docker, err = p.dockerSpec(k.val)
	case "type":
		s.Type, err = p.name(k.val, "type")
		s.typeLine = k.val.Line
	}
	return err
}

// execSpec parses an exec step: a command list, or a mapping with the
// command and how to run it.
func (p *parser) execSpec(n *yaml.Node) (loom.Values, error) {
	r, err := p.resolve(n)
	if err != nil {
		return nil, err
	}
	if r.Kind == yaml.SequenceNode {
		cmd, err := p.command(r, "exec")
		if err != nil {
			return nil, err
		}
		return loom.Values{"command": cmd}, nil
	}
	if r.Kind != yaml.MappingNode {
		return nil, p.errorf(r, "exec: want a command list like [echo, hello] or a mapping with command, env, dir, stdin and timeout")
	}
	fields, err := p.mapping(r, "exec")
	if err != nil {
		return nil, err
	}
	if err := p.allowed(fields, "exec", execFields); err != nil {
		return nil, err
	}
	out := loom.Values{}
	for _, f := range fields {
		switch f.name {
		case "command":
			out["command"], err = p.command(f.val, "exec.command")
		case "env":
			out["env"], err = p.templatedMap(f.val, "exec.env", validEnvName)
		case "dir":
			out["dir"], err = p.templated(f.val, "exec.dir")
		case "stdin":
			out["stdin"], err = p.templated(f.val, "exec.stdin")
		case "timeout":
			out["timeout"], err = p.seconds(f.val, "exec.timeout")
		}
		if err != nil {
			return nil, err
		}
	}
	if _, ok := out["command"]; !ok {
		return nil, p.errorf(r, "exec: command is required")
	}
	return out, nil
}

// command parses a command list: a program and its arguments.
func (p *parser) command(n *yaml.Node, path string) ([]any, error) {
	items, err := p.list(n, path)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, p.errorf(n, "%s", at(path, "the command list is empty"))
	}
	out := make([]any, 0, len(items))
	for _, item := range items {
		s, err := p.templated(item, path)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if out[0] == "" {
		return nil, p.errorf(items[0], "%s", at(path, "the program name is empty"))
	}
	return out, nil
}

// templatedMap parses a mapping of names to template strings, checking each
// name with valid.
func (p *parser) templatedMap(n *yaml.Node, path string, valid func(string) bool) (map[string]any, error) {
	fields, err := p.mapping(n, path)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		if !valid(f.name) {
			return nil, p.errorf(f.key, "%s", at(path, fmt.Sprintf("invalid name %q", f.name)))
		}
		if out[f.name], err = p.templated(f.val, path+"."+f.name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func validEnvName(s string) bool { return s != "" && !strings.ContainsAny(s, "=\x00") }

func validHeaderName(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\r\n:\x00")
}

// httpSpec parses an http step.
func (p *parser) httpSpec(n *yaml.Node) (loom.Values, error) {
	fields, err := p.mapping(n, "http")
	if err != nil {
		return nil, err
	}
	if err := p.allowed(fields, "http", httpFields); err != nil {
		return nil, err
	}
	out := loom.Values{}
	for _, f := range fields {
		switch f.name {
		case "method":
			var m string
			if m, err = p.str(f.val, "http.method"); err == nil {
				m = strings.ToUpper(m)
				if !slices.Contains(httpMethods, m) {
					err = p.errorf(f.val, "http.method: unknown method %q (want one of %s)", m, strings.Join(httpMethods, ", "))
				}
			}
			out["method"] = m
		case "url":
			var u string
			if u, err = p.templated(f.val, "http.url"); err == nil && !strings.Contains(u, "{{") {
				err = p.checkURL(f.val, u)
			}
			out["url"] = u
		case "headers":
			out["headers"], err = p.templatedMap(f.val, "http.headers", validHeaderName)
		case "body":
			out["body"], err = p.value(f.val, "http.body", true, 0)
		case "timeout":
			out["timeout"], err = p.seconds(f.val, "http.timeout")
		}
		if err != nil {
			return nil, err
		}
	}
	if _, ok := out["url"]; !ok {
		return nil, p.errorf(n, "http: url is required")
	}
	return out, nil
}

// Pull policies of a docker step (dockerrt's), spelt here so that flow
// files do not pull in the Docker client.
var pullPolicies = []string{"never", "missing", "always"}

// dockerSpec parses a docker step. Only the strings that name what runs
// (image, command, env values, workdir, user) are templates: mounts,
// network and limits are the file's alone, so that no input can choose a
// host path or a network.
func (p *parser) dockerSpec(n *yaml.Node) (loom.Values, error) {
	fields, err := p.mapping(n, "docker")
	if err != nil {
		return nil, err
	}
	if err := p.allowed(fields, "docker", dockerFields); err != nil {
		return nil, err
	}
	out := loom.Values{}
	for _, f := range fields {
		path := "docker." + f.name
		switch f.name {
		case "image", "workdir", "user":
			var v string
			if v, err = p.templated(f.val, path); err == nil && v == "" {
				err = p.errorf(f.val, "%s: must not be empty", path)
			}
			out[f.name] = v
		case "command":
			out["command"], err = p.command(f.val, path)
		case "env":
			out["env"], err = p.templatedMap(f.val, path, validEnvName)
		case "mounts":
			var ms []string
			var items []*yaml.Node
			if ms, items, err = p.strList(f.val, path); err == nil {
				for i, m := range ms {
					if err = checkMount(m); err != nil {
						err = p.errorf(items[i], "%s: %q: %v", path, m, err)
						break
					}
				}
			}
			out["mounts"] = ms
		case "cpus":
			var c float64
			if c, err = p.number(f.val, path); err == nil && c <= 0 {
				err = p.errorf(f.val, "%s: must be more than 0", path)
			}
			out["cpus"] = c
		case "memory":
			var m string
			if m, err = p.nonEmpty(f.val, path); err == nil && !memoryRE.MatchString(m) {
				err = p.errorf(f.val, "%s: %q is not a size such as 256m or 1g", path, m)
			}
			out["memory"] = m
		case "network":
			out["network"], err = p.nonEmpty(f.val, path)
		case "pull":
			var s string
			if s, err = p.str(f.val, path); err == nil && !slices.Contains(pullPolicies, s) {
				err = p.errorf(f.val, "%s: %q is not one of %s", path, s, strings.Join(pullPolicies, ", "))
			}
			out["pull"] = s
		case "timeout":
			out["timeout"], err = p.seconds(f.val, path)
		}
		if err != nil {
			return nil, err
		}
	}
	if _, ok := out["image"]; !ok {
		return nil, p.errorf(n, "docker: image is required")
	}
	return out, nil
}

// memoryRE is a memory size as the Docker CLI takes it: bytes, or a number
// with a unit b, k, m or g.
var memoryRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)* ?[kKmMgGtTpP]?[iI]?[bB]?$`)

// checkMount checks a docker step's mount: "HOST:CONTAINER[:ro|:rw]" with
// absolute paths. Whether the server allows HOST is known only where the
// step runs.
func checkMount(m string) error {
	parts := strings.Split(m, ":")
	if len(parts) < 2 || len(parts) > 3 || len(parts) == 3 && parts[2] != "ro" && parts[2] != "rw" {
		return errors.New("want HOST:CONTAINER or HOST:CONTAINER:ro")
	}
	if !strings.HasPrefix(parts[0], "/") || !strings.HasPrefix(parts[1], "/") {
		return errors.New("both paths must be absolute")
	}
	return nil
}

// checkURL checks a URL that holds no template.
func (p *parser) checkURL(n *yaml.Node, s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return p.errorf(n, "http.url: %q is not an absolute http or https URL", s)
	}
	return nil
}

// retry parses a retry policy.
func (p *parser) retry(n *yaml.Node) (*loom.RetryPolicy, error) {
	fields, err := p.mapping(n, "retry")
	if err != nil {
		return nil, err
	}
	if err := p.allowed(fields, "retry", retryFields); err != nil {
		return nil, err
	}
	rp := &loom.RetryPolicy{}
	var initialNode *yaml.Node
	for _, f := range fields {
		switch f.name {
		case "max_attempts":
			if rp.MaxAttempts, err = p.integer(f.val, "retry.max_attempts"); err == nil && rp.MaxAttempts < 1 {
				err = p.errorf(f.val, "retry.max_attempts: must be at least 1, got %d", rp.MaxAttempts)
			}
		case "initial_delay":
			rp.InitialDelay, err = p.duration(f.val, "retry.initial_delay")
			initialNode = f.val
		case "backoff_factor":
			if rp.BackoffFactor, err = p.number(f.val, "retry.backoff_factor"); err == nil && rp.BackoffFactor < 1 {
				err = p.errorf(f.val, "retry.backoff_factor: must be at least 1 (1 keeps delays fixed), got %g", rp.BackoffFactor)
			}
		case "max_delay":
			rp.MaxDelay, err = p.duration(f.val, "retry.max_delay")
		case "jitter":
			if rp.Jitter, err = p.number(f.val, "retry.jitter"); err == nil && (rp.Jitter < 0 || rp.Jitter > 1) {
				err = p.errorf(f.val, "retry.jitter: must be between 0 and 1, got %g", rp.Jitter)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if rp.MaxAttempts == 0 {
		return nil, p.errorf(n, "retry: max_attempts is required")
	}
	if rp.MaxDelay > 0 && rp.InitialDelay > rp.MaxDelay {
		return nil, p.errorf(initialNode, "retry.initial_delay: %s is longer than max_delay %s", rp.InitialDelay, rp.MaxDelay)
	}
	if err := rp.Validate(); err != nil {
		return nil, p.errorf(n, "retry: %v", err)
	}
	return rp, nil
}

// fanOut parses a fan-out; over must be one of the step's inputs.
func (p *parser) fanOut(n *yaml.Node, inputs map[string]bool) (*loom.FanOut, error) {
	fields, err := p.mapping(n, "fan_out")
	if err != nil {
		return nil, err
	}
	if err := p.allowed(fields, "fan_out", fanOutFields); err != nil {
		return nil, err
	}
	fo := &loom.FanOut{As: "item"}
	var overNode *yaml.Node
	for _, f := range fields {
		switch f.name {
		case "over":
			fo.Over, err = p.nonEmpty(f.val, "fan_out.over")
			overNode = f.val
		case "as":
			fo.As, err = p.nonEmpty(f.val, "fan_out.as")
		case "parallelism":
			if fo.Parallelism, err = p.integer(f.val, "fan_out.parallelism"); err == nil && fo.Parallelism < 0 {
				err = p.errorf(f.val, "fan_out.parallelism: must not be negative, got %d", fo.Parallelism)
			}
		case "on_failure":
			var s string
			if s, err = p.str(f.val, "fan_out.on_failure"); err == nil {
				switch s {
				case "fail_fast":
					fo.OnFailure = loom.FailFast
				case "continue":
					fo.OnFailure = loom.CollectAndContinue
				default:
					err = p.errorf(f.val, "fan_out.on_failure: %q is neither fail_fast nor continue", s)
				}
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if overNode == nil {
		return nil, p.errorf(n, "fan_out: over is required")
	}
	if !inputs[fo.Over] {
		return nil, p.errorf(overNode, "fan_out.over: %q is not an input of the step (%s)", fo.Over, inputList(inputs))
	}
	return fo, nil
}

// condition parses an if: expression, a text/template pipeline such as
// `.full` or `eq .mode "full"`, checking that the keys it reads are flow
// inputs or keys earlier steps provide.
func (p *parser) condition(n *yaml.Node, provided map[string]bool) (string, error) {
	expr, err := p.nonEmpty(n, "if")
	if err != nil {
		return "", err
	}
	if strings.Contains(expr, "{{") || strings.Contains(expr, "}}") {
		return "", p.errorf(n, "if: write the condition without {{ }}, as in `eq .mode \"full\"`")
	}
	t, err := parseCondition(expr)
	if err != nil {
		return "", p.errorf(n, "if: bad condition: %s", templateMessage(err))
	}
	for _, ref := range references(t) {
		if !provided[ref] {
			return "", p.errorf(n, "if: condition uses .%s, which is not a flow input or a key an earlier step provides", ref)
		}
	}
	return expr, nil
}

// compensation parses a compensate: mapping, which runs one of exec, http,
// docker or type, with optional input, retry and timeout, like a step. Its
// templates may use the step's inputs and outputs, which are known only
// at run time, so their names are not checked.
func (p *parser) compensation(n *yaml.Node, step *Step) (*Step, error) {
	fields, err := p.mapping(n, "compensate")
	if err != nil {
		return nil, err
	}
	if err := p.allowed(fields, "compensate", compensateFields); err != nil {
		return nil, err
	}
	fs := byName(fields)
	c := &Step{Name: step.Name + ".compensate", Line: n.Line}
	if in, ok := fs["input"]; ok {
		v, err := p.value(in.val, "compensate.input", false, 0)
		if err != nil {
			return nil, err
		}
		m, isMap := v.(map[string]any)
		if !isMap {
			return nil, p.errorf(in.val, "compensate.input: want a mapping of input names to values")
		}
		c.Input = loom.Values(m)
	}
	known := p.known
	p.known = nil
	defer func() { p.known = known }()
	if err := p.kind(n, fs, c); err != nil {
		return nil, err
	}
	if r, ok := fs["retry"]; ok {
		if c.Retry, err = p.retry(r.val); err != nil {
			return nil, err
		}
	}
	if t, ok := fs["timeout"]; ok {
		if c.Timeout, err = p.positive(t.val, "compensate.timeout"); err != nil {
			return nil, err
		}
	}
	return c, nil
}
