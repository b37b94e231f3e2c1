// Package errtext turns a wrapped Go error's text into a sentence for
// people: the API's error messages and the CLI's last line.
//
// Each layer of a program wraps an error with what it was doing, which
// makes a chain such as "engine: cancel X: cancel task X: task is
// cancelled: store: conflict with current state" when two layers describe
// the same step and package names tag the sentinels. Clean keeps the
// words that say something new: "cancel task X: task is cancelled:
// conflict with current state".
package errtext

import "strings"

// packageTags are the segments that name a package rather than say what
// happened.
var packageTags = map[string]bool{
	"engine": true, "store": true, "loom": true, "taskmaster": true,
	"server": true, "client": true, "bus": true, "runtime": true,
}

// Clean drops from msg, read as segments joined by ": ", the segments that
// only name a package and those that repeat a neighbour (the same words,
// or a shorter form of them: "cancel X" beside "cancel task X"). What it
// keeps is joined as it was written.
func Clean(msg string) string {
	segs := strings.Split(msg, ": ")
	kept := segs[:0]
	for i, s := range segs {
		if packageTags[strings.TrimSpace(s)] && i < len(segs)-1 {
			continue
		}
		if i+1 < len(segs) && restates(s, nextMeaningful(segs[i+1:])) {
			continue
		}
		if len(kept) > 0 && restates(s, kept[len(kept)-1]) {
			continue
		}
		kept = append(kept, s)
	}
	return strings.Join(kept, ": ")
}

// nextMeaningful is the first of segs that is not a package tag.
func nextMeaningful(segs []string) string {
	for _, s := range segs {
		if !packageTags[strings.TrimSpace(s)] {
			return s
		}
	}
	return ""
}

// restates reports whether a says nothing that b, said next to it, does
// not: b starts with a's first word and holds all of a's words in order
// ("cancel X" beside "cancel task X", "submit" beside "submit nosuch").
func restates(a, b string) bool {
	aw, bw := strings.Fields(a), strings.Fields(b)
	if len(aw) == 0 || len(aw) > len(bw) || !strings.EqualFold(aw[0], bw[0]) {
		return false
	}
	// Every word of a appears in b, in order.
	j := 0
	for _, w := range bw {
		if j < len(aw) && strings.EqualFold(w, aw[j]) {
			j++
		}
	}
	return j == len(aw)
}
