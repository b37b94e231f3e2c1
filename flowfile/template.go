package flowfile

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/loomhq/loom"
)

// funcs are the functions templates may call besides text/template's own
// (printf, urlquery, index...): json renders a value as JSON, for lists and
// objects in a command line or a body.
var funcs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
}

// parseTemplate parses s as a template, or returns nil when s has no action
// and is used as it is.
func parseTemplate(s string) (*template.Template, error) {
	if !strings.Contains(s, "{{") {
		return nil, nil
	}
	return template.New("").Funcs(funcs).Option("missingkey=error").Parse(s)
}

// parseCondition parses an if: expression as the pipeline of a template
// that renders "true" when the pipeline's value is true in text/template's
// sense (not false, 0, nil or empty). A key that is not set reads as
// empty.
func parseCondition(expr string) (*template.Template, error) {
	return template.New("").Funcs(funcs).Parse("{{if " + expr + "}}true{{end}}")
}

// holds evaluates a condition parsed by parseCondition against data; one
// that cannot be evaluated (it compares a key that is not set) is false.
func holds(t *template.Template, data loom.Values) bool {
	var b strings.Builder
	if err := t.Execute(&b, map[string]any(data)); err != nil {
		return false
	}
	return b.String() == "true"
}

var templatePrefixRE = regexp.MustCompile(`^template: [^:]*:\d+:(\d+:)? ?(executing "[^"]*" )?`)

// templateMessage strips text/template's "template: name:line:" prefix,
// which names nothing the user wrote.
func templateMessage(err error) string {
	return templatePrefixRE.ReplaceAllString(err.Error(), "")
}

// references returns the names of the inputs t reads from the top level of
// its data: .name and $.name, outside range and with, which move the dot.
func references(t *template.Template) []string {
	var refs []string
	var walk func(n parse.Node, top bool)
	walk = func(n parse.Node, top bool) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c, top)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe, top)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c, top)
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a, top)
			}
		case *parse.ChainNode:
			walk(n.Node, top)
		case *parse.FieldNode:
			if top {
				refs = append(refs, n.Ident[0])
			}
		case *parse.VariableNode:
			if n.Ident[0] == "$" && len(n.Ident) > 1 {
				refs = append(refs, n.Ident[1])
			}
		case *parse.IfNode:
			walk(n.Pipe, top)
			walk(n.List, top)
			walk(n.ElseList, top)
		case *parse.RangeNode:
			walk(n.Pipe, top)
			walk(n.List, false)
			walk(n.ElseList, top)
		case *parse.WithNode:
			walk(n.Pipe, top)
			walk(n.List, false)
			walk(n.ElseList, top)
		case *parse.TemplateNode:
			walk(n.Pipe, top)
		}
	}
	if t.Tree != nil {
		walk(t.Tree.Root, true)
	}
	return refs
}

// spec is an exec or http input with its templates parsed, ready to be
// rendered against a step's input at run time.
type spec struct {
	value any // map[string]any, []any and scalars; *template.Template where a string holds one
}

// compile parses the templates in v, a value Parse already checked.
func compile(v any) (spec, error) {
	c, err := compileValue(v)
	return spec{value: c}, err
}

func compileValue(v any) (any, error) {
	switch v := v.(type) {
	case loom.Values:
		return compileValue(map[string]any(v))
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			c, err := compileValue(e)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			c, err := compileValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case string:
		t, err := parseTemplate(v)
		if err != nil {
			return nil, fmt.Errorf("template %q: %s", v, templateMessage(err))
		}
		if t != nil {
			return t, nil
		}
		return v, nil
	}
	return v, nil
}

// render executes the spec's templates with data.
func (s spec) render(data loom.Values) (loom.Values, error) {
	v, err := renderValue(s.value, data)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	return loom.Values(m), nil
}

func renderValue(v any, data loom.Values) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			r, err := renderValue(e, data)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			r, err := renderValue(e, data)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case *template.Template:
		var b strings.Builder
		if err := v.Execute(&b, map[string]any(data)); err != nil {
			return nil, fmt.Errorf("template %q: %s", v.Root.String(), templateMessage(err))
		}
		return b.String(), nil
	}
	return v, nil
}
