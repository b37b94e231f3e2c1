package trigger

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// Limits on `matches`. Go's regular expressions run in time linear in
// their input, but the factor is the size of the compiled program, which
// counted repetition multiplies: "[a-z]{1000}" compiles to about a
// thousand instructions, and matching it against a megabyte takes tens of
// CPU-seconds. So a pattern's size is bounded when the filter compiles,
// the text it looks at is bounded when it matches, and each evaluation
// has a budget of their product.
const (
	// MaxRegexpLength bounds a `matches` pattern's source, in bytes.
	MaxRegexpLength = 512
	// MaxRegexpInsts bounds the size of a pattern's compiled program, in
	// instructions (about one per character matched, a counted repetition
	// {n} multiplying what it repeats by n).
	MaxRegexpInsts = 128
	// MaxMatchInput is the longest string `matches` looks at, in bytes: a
	// longer string does not match any pattern.
	MaxMatchInput = 64 << 10
	// MatchBudget is the work one evaluation of a filter may do in its
	// `matches`, counted as the pattern's instructions times the length
	// of the string, before it runs: one largest pattern against one
	// longest string. An evaluation that would go over fails with
	// ErrBudget.
	MatchBudget = MaxRegexpInsts * MaxMatchInput
)

// ErrBudget is wrapped by Match when the filter's `matches` would exceed
// MatchBudget on an event (many patterns against long strings); the
// event then does not match.
var ErrBudget = errors.New("filter exceeds its matching budget")

// matcher is a compiled `matches` pattern and its cost per byte of input.
type matcher struct {
	re    *regexp.Regexp
	insts int
}

// compileRegexp compiles a `matches` pattern within the limits, with an
// error written for the filter's author.
func compileRegexp(s string) (*matcher, error) {
	if len(s) > MaxRegexpLength {
		return nil, fmt.Errorf("regular expression is %d bytes long, over the limit of %d", len(s), MaxRegexpLength)
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, fmt.Errorf("bad regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	// regexp.Compile parses the same way; only the program's size is new.
	parsed, err := syntax.Parse(s, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("bad regular expression: %w", err)
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return nil, fmt.Errorf("bad regular expression: %w", err)
	}
	if n := len(prog.Inst); n > MaxRegexpInsts {
		return nil, fmt.Errorf("regular expression compiles to %d instructions, over the limit of %d: "+
			"matching costs its size times the text's length, and a counted repetition such as {100} multiplies the size; use + or * instead",
			n, MaxRegexpInsts)
	}
	return &matcher{re: re, insts: len(prog.Inst)}, nil
}
