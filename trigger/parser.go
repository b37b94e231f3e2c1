package trigger

import (
	"strconv"
	"strings"
)

// MaxFilterLength bounds a filter's source; longer ones are refused before
// parsing.
const MaxFilterLength = 4096

// maxDepth bounds nesting (parentheses, !, lists), keeping the parser's
// recursion shallow whatever the input.
const maxDepth = 64

// The syntax tree. Every node keeps its byte offset for error columns.
type (
	node interface{ offset() int }

	litNode struct {
		pos int
		val any // nil, bool, float64 or string
	}
	listNode struct {
		pos   int
		items []node
	}
	// pathNode reads type or data.<segments>.
	pathNode struct {
		pos  int
		root string
		segs []segment
		src  string // as written, for messages
	}
	existsNode struct {
		pos  int
		path *pathNode
	}
	notNode struct {
		pos int
		x   node
	}
	binNode struct {
		pos  int
		op   string // && || == != < <= > >= contains in matches
		l, r node
		re   *matcher // for matches
	}
)

// segment is one step of a path: a field name or an array index.
type segment struct {
	key     string
	index   int
	isIndex bool
}

func (n *litNode) offset() int    { return n.pos }
func (n *listNode) offset() int   { return n.pos }
func (n *pathNode) offset() int   { return n.pos }
func (n *existsNode) offset() int { return n.pos }
func (n *notNode) offset() int    { return n.pos }
func (n *binNode) offset() int    { return n.pos }

// parser is a recursive-descent parser with one token of lookahead:
//
//	or      = and { "||" and }
//	and     = cmp { "&&" cmp }
//	cmp     = unary [ ("=="|"!="|"<"|"<="|">"|">="|"contains"|"in"|"matches") unary ]
//	unary   = "!" unary | primary
//	primary = literal | path | "exists" "(" path ")" | "(" or ")" | "[" [ or { "," or } ] "]"
//	path    = ("type" | "data") { "." ident | "[" (string | integer) "]" }
type parser struct {
	lex   lexer
	tok   token
	depth int
}

func newParser(src string) (*parser, error) {
	if len(src) > MaxFilterLength {
		return nil, errAt(src, MaxFilterLength, "longer than %d bytes", MaxFilterLength)
	}
	p := &parser{lex: lexer{src: src}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *parser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) errf(pos int, format string, args ...any) error {
	return errAt(p.lex.src, pos, format, args...)
}

func (p *parser) is(text string) bool {
	return (p.tok.kind == tokOp || p.tok.kind == tokIdent) && p.tok.text == text
}

func (p *parser) expect(text string) error {
	if !p.is(text) {
		return p.errf(p.tok.pos, "expected %q, found %s", text, describe(p.tok))
	}
	return p.advance()
}

func describe(t token) string {
	switch t.kind {
	case tokEOF:
		return "end of filter"
	case tokString, tokNumber:
		return t.text
	}
	return strconv.Quote(t.text)
}

// parseFilter parses a whole filter.
func parseFilter(src string) (node, error) {
	p, err := newParser(src)
	if err != nil {
		return nil, err
	}
	if p.tok.kind == tokEOF {
		return nil, p.errf(0, "empty filter")
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.errf(p.tok.pos, "unexpected %s; expected an operator or the end", describe(p.tok))
	}
	return n, nil
}

func (p *parser) or() (node, error) {
	return p.binary("||", p.and)
}

func (p *parser) and() (node, error) {
	return p.binary("&&", p.cmp)
}

func (p *parser) binary(op string, operand func() (node, error)) (node, error) {
	l, err := operand()
	if err != nil {
		return nil, err
	}
	for p.is(op) {
		pos := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := operand()
		if err != nil {
			return nil, err
		}
		l = &binNode{pos: pos, op: op, l: l, r: r}
	}
	return l, nil
}

var comparisons = map[string]bool{"==": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true, "contains": true, "in": true, "matches": true}

func (p *parser) cmp() (node, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	if !comparisons[p.tok.text] || p.tok.kind == tokString {
		return l, nil
	}
	op, pos := p.tok.text, p.tok.pos
	if err := p.advance(); err != nil {
		return nil, err
	}
	r, err := p.unary()
	if err != nil {
		return nil, err
	}
	b := &binNode{pos: pos, op: op, l: l, r: r}
	if op == "matches" {
		lit, ok := r.(*litNode)
		s, isStr := lit.valString()
		if !ok || !isStr {
			return nil, p.errf(r.offset(), "matches takes a string literal (a regular expression)")
		}
		re, err := compileRegexp(s)
		if err != nil {
			return nil, p.errf(r.offset(), "%s", err)
		}
		b.re = re
	}
	if comparisons[p.tok.text] && p.tok.kind == tokIdent || comparisons[p.tok.text] && p.tok.kind == tokOp {
		return nil, p.errf(p.tok.pos, "comparisons do not chain; use && between them")
	}
	return b, nil
}

func (l *litNode) valString() (string, bool) {
	if l == nil {
		return "", false
	}
	s, ok := l.val.(string)
	return s, ok
}

func (p *parser) unary() (node, error) {
	if !p.is("!") {
		return p.primary()
	}
	pos := p.tok.pos
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if err := p.advance(); err != nil {
		return nil, err
	}
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	return &notNode{pos: pos, x: x}, nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errf(p.tok.pos, "nested more than %d deep", maxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) primary() (node, error) {
	t := p.tok
	switch t.kind {
	case tokString:
		return &litNode{pos: t.pos, val: t.str}, p.advance()
	case tokNumber:
		return &litNode{pos: t.pos, val: t.num}, p.advance()
	case tokEOF:
		return nil, p.errf(t.pos, "unexpected end of filter; expected a value")
	case tokIdent:
		switch t.text {
		case "true", "false":
			return &litNode{pos: t.pos, val: t.text == "true"}, p.advance()
		case "null":
			return &litNode{pos: t.pos}, p.advance()
		case "exists":
			if err := p.advance(); err != nil {
				return nil, err
			}
			if err := p.expect("("); err != nil {
				return nil, err
			}
			path, err := p.path()
			if err != nil {
				return nil, err
			}
			return &existsNode{pos: t.pos, path: path}, p.expect(")")
		}
		return p.path()
	}
	switch t.text {
	case "(":
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		return n, p.expect(")")
	case "[":
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		if err := p.advance(); err != nil {
			return nil, err
		}
		list := &listNode{pos: t.pos}
		for !p.is("]") {
			if len(list.items) > 0 {
				if err := p.expect(","); err != nil {
					return nil, err
				}
			}
			item, err := p.or()
			if err != nil {
				return nil, err
			}
			list.items = append(list.items, item)
		}
		return list, p.advance()
	}
	return nil, p.errf(t.pos, "unexpected %s; expected a value", describe(t))
}

// path parses type or data followed by .field and [key] / [index] steps.
func (p *parser) path() (*pathNode, error) {
	t := p.tok
	if t.kind != tokIdent {
		return nil, p.errf(t.pos, "expected a path such as data.field, found %s", describe(t))
	}
	if t.text != "type" && t.text != "data" {
		return nil, p.errf(t.pos, "unknown name %q; paths start with type or data", t.text)
	}
	n := &pathNode{pos: t.pos, root: t.text}
	if err := p.advance(); err != nil {
		return nil, err
	}
	for p.is(".") || p.is("[") {
		if p.is(".") {
			if err := p.advance(); err != nil {
				return nil, err
			}
			if p.tok.kind != tokIdent {
				return nil, p.errf(p.tok.pos, "expected a field name after \".\", found %s", describe(p.tok))
			}
			n.segs = append(n.segs, segment{key: p.tok.text})
		} else {
			if err := p.advance(); err != nil {
				return nil, err
			}
			switch p.tok.kind {
			case tokString:
				n.segs = append(n.segs, segment{key: p.tok.str})
			case tokNumber:
				i, err := strconv.Atoi(p.tok.text)
				if err != nil || i < 0 {
					return nil, p.errf(p.tok.pos, "array index must be a non-negative integer, found %s", p.tok.text)
				}
				n.segs = append(n.segs, segment{index: i, isIndex: true})
			default:
				return nil, p.errf(p.tok.pos, "expected a quoted key or an index in [], found %s", describe(p.tok))
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
			if !p.is("]") {
				return nil, p.errf(p.tok.pos, "expected \"]\", found %s", describe(p.tok))
			}
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	if n.root == "type" && len(n.segs) > 0 {
		return nil, p.errf(t.pos, "type is a string and has no fields")
	}
	n.src = strings.TrimSpace(p.lex.src[t.pos:p.tok.pos])
	return n, nil
}
