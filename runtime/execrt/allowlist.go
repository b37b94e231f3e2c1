package execrt

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// AllowFlag is the server option whose patterns make an Allowlist, named
// in every refusal.
const AllowFlag = "--allow-exec-command"

// ErrNotAllowed is wrapped by every command an Allowlist refuses.
var ErrNotAllowed = errors.New("command not allowed")

// Allowlist is the set of commands an operator lets submitted exec tasks
// run. Each pattern is a command line of space-separated words; a command
// matches it when it has one argument per word and each argument matches
// its word, where "*" stands for any run of characters and "?" for one. A
// last word "..." matches any further arguments, none included. So
// "echo ..." allows echo with any arguments, "/usr/local/bin/report ?*"
// allows the report program with exactly one non-empty argument.
//
// A command an Allowlist admits may still be changed by its input's "env"
// (LD_PRELOAD, PATH) and "dir" (a relative program), so Check refuses
// inputs that set either.
type Allowlist struct {
	// Source says where the patterns come from, named in Check's
	// refusals so that a submitter learns whom to ask. ParseAllowlist
	// sets AllowFlag; set another before the Allowlist is used when the
	// patterns come from elsewhere too.
	Source string

	patterns []string
	words    [][]*regexp.Regexp
	rest     []bool // the pattern ends in "...": any further arguments
}

// ParseAllowlist compiles the patterns of an Allowlist. A pattern without
// words is an error (see CheckPattern).
func ParseAllowlist(patterns []string) (*Allowlist, error) {
	a := &Allowlist{Source: AllowFlag}
	for _, p := range patterns {
		if err := CheckPattern(p); err != nil {
			return nil, fmt.Errorf("%s %q: %w", AllowFlag, p, err)
		}
		words, rest := patternWords(p)
		res := make([]*regexp.Regexp, len(words))
		for i, w := range words {
			res[i] = globRegexp(w)
		}
		a.patterns = append(a.patterns, p)
		a.words = append(a.words, res)
		a.rest = append(a.rest, rest)
	}
	return a, nil
}

// CheckPattern reports what is wrong with one pattern of an Allowlist, for
// callers that read patterns from elsewhere than AllowFlag (a flow file)
// and say where themselves: a pattern needs the program's name, so one
// without words, or only "...", is an error.
func CheckPattern(p string) error {
	if words, _ := patternWords(p); len(words) == 0 {
		return errors.New("a pattern needs the program's name")
	}
	return nil
}

// patternWords splits a pattern into its words, less a last "...", and
// reports whether it ended in one.
func patternWords(p string) (words []string, rest bool) {
	words = strings.Fields(p)
	rest = len(words) > 0 && words[len(words)-1] == "..."
	if rest {
		words = words[:len(words)-1]
	}
	return words, rest
}

// globRegexp turns a word with "*" and "?" into an anchored regexp.
func globRegexp(w string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`\A`)
	for _, r := range w {
		switch r {
		case '*':
			b.WriteString(`(?s:.*)`)
		case '?':
			b.WriteString(`(?s:.)`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

// Patterns returns the patterns a was parsed from.
func (a *Allowlist) Patterns() []string { return append([]string(nil), a.patterns...) }

// Check returns nil when in's command matches a pattern and in sets
// neither env nor dir, or an error wrapping ErrNotAllowed that names
// a's Source.
func (a *Allowlist) Check(in Input) error {
	if len(in.Env) > 0 || in.Dir != "" {
		return fmt.Errorf(`%w: input "env" and "dir" are refused for submitted exec tasks when %s restricts them`, ErrNotAllowed, a.Source)
	}
	for i, words := range a.words {
		if matches(words, a.rest[i], in.Command) {
			return nil
		}
	}
	return fmt.Errorf("%w: %q matches no pattern of %s", ErrNotAllowed, in.Command, a.Source)
}

func matches(words []*regexp.Regexp, rest bool, cmd []string) bool {
	if len(cmd) < len(words) || (!rest && len(cmd) != len(words)) {
		return false
	}
	for i, w := range words {
		if !w.MatchString(cmd[i]) {
			return false
		}
	}
	return true
}
