package trigger

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SyntaxError is a filter or path that does not compile. Column counts
// characters from 1, so an editor or the UI can point at the mistake.
type SyntaxError struct {
	// Column is the 1-based character position of the problem.
	Column int
	// Msg says what is wrong there.
	Msg string
}

// Error returns "column N: message"; Compile adds the "trigger filter: " prefix.
func (e *SyntaxError) Error() string { return fmt.Sprintf("column %d: %s", e.Column, e.Msg) }

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokNumber
	tokOp // punctuation and operators
)

type token struct {
	kind tokKind
	text string // identifier, operator, or raw literal
	str  string // decoded string literal
	num  float64
	pos  int // byte offset
}

// lexer splits a filter into tokens; src is at most MaxFilterLength bytes.
type lexer struct {
	src string
	pos int
}

// errAt builds a SyntaxError at byte offset pos of src.
func errAt(src string, pos int, format string, args ...any) *SyntaxError {
	pos = min(max(pos, 0), len(src))
	return &SyntaxError{Column: utf8.RuneCountInString(src[:pos]) + 1, Msg: fmt.Sprintf(format, args...)}
}

var operators = []string{"&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "(", ")", "[", "]", ",", "."}

func (l *lexer) next() (token, error) {
	for l.pos < len(l.src) && strings.IndexByte(" \t\r\n", l.src[l.pos]) >= 0 {
		l.pos++
	}
	start := l.pos
	if l.pos >= len(l.src) {
		return token{kind: tokEOF, pos: start}, nil
	}
	c := l.src[l.pos]
	switch {
	case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		for l.pos < len(l.src) && isIdentByte(l.src[l.pos]) {
			l.pos++
		}
		return token{kind: tokIdent, text: l.src[start:l.pos], pos: start}, nil
	case c == '"':
		return l.string()
	case c >= '0' && c <= '9' || c == '-' && l.pos+1 < len(l.src) && l.src[l.pos+1] >= '0' && l.src[l.pos+1] <= '9':
		return l.number()
	}
	for _, op := range operators {
		if strings.HasPrefix(l.src[l.pos:], op) {
			l.pos += len(op)
			return token{kind: tokOp, text: op, pos: start}, nil
		}
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
	hint := ""
	switch r {
	case '=':
		hint = " (use == to compare)"
	case '&', '|':
		hint = " (use && or ||)"
	case '\'':
		hint = " (strings take double quotes)"
	}
	return token{}, errAt(l.src, start, "unexpected character %q%s", r, hint)
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (l *lexer) string() (token, error) {
	start := l.pos
	l.pos++ // opening quote
	for l.pos < len(l.src) {
		switch l.src[l.pos] {
		case '\\':
			l.pos += 2
			continue
		case '"':
			l.pos++
			raw := l.src[start:l.pos]
			s, err := strconv.Unquote(raw)
			if err != nil {
				return token{}, errAt(l.src, start, "invalid string literal %s", raw)
			}
			return token{kind: tokString, text: raw, str: s, pos: start}, nil
		case '\n':
			return token{}, errAt(l.src, start, "string not closed before end of line")
		}
		l.pos++
	}
	return token{}, errAt(l.src, start, "string not closed")
}

func (l *lexer) number() (token, error) {
	start := l.pos
	if l.src[l.pos] == '-' {
		l.pos++
	}
	for l.pos < len(l.src) && (isIdentByte(l.src[l.pos]) || l.src[l.pos] == '.' ||
		(l.src[l.pos] == '+' || l.src[l.pos] == '-') && (l.src[l.pos-1] == 'e' || l.src[l.pos-1] == 'E')) {
		l.pos++
	}
	raw := l.src[start:l.pos]
	n, err := strconv.ParseFloat(raw, 64)
	if err != nil || strings.ContainsAny(raw, "xXpP_") || strings.EqualFold(raw, "inf") {
		return token{}, errAt(l.src, start, "invalid number %q", raw)
	}
	return token{kind: tokNumber, text: raw, num: n, pos: start}, nil
}
