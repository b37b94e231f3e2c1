package ui

import (
	"fmt"
	"html/template"
	"maps"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/loomhq/loom"
)

// parseTemplates parses each page together with the layout and the shared
// partials, so pages can define the same block names independently.
func (u *UI) parseTemplates() map[string]*template.Template {
	funcs := template.FuncMap{
		"ago": u.ago,
		"ts":  formatTime,
		"tsp": formatTimePtr,
		"clock": func(t *time.Time) string {
			if t == nil {
				return "—"
			}
			return t.Local().Format("15:04:05")
		},
		"iso":      isoTime,
		"dur":      formatDuration,
		"between":  u.between,
		"pesc":     url.PathEscape,
		"terminal": func(s loom.Status) bool { return s.Terminal() },
		"retryable": func(s loom.Status) bool {
			return s == loom.StatusFailed || s == loom.StatusCancelled
		},
		"pct": func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) + "%" },
		"add": func(a, b int) int { return a + b },
		// progressPct is a progress's whole percent, and false when its
		// total is unknown.
		"progressPct": func(p *loom.Progress) int {
			f, _ := p.Fraction()
			return int(f * 100)
		},
		"join": strings.Join,
		"base": func() string { return u.cfg.BasePath },
		"statusClassOf": func(s any) string {
			return statusClass(fmt.Sprint(s))
		},
		"shortID":    shortID,
		"ptr":        func(t time.Time) *time.Time { return &t },
		"hasTM":      func() bool { return u.tm != nil },
		"hasCluster": func() bool { return u.cfg.Cluster != nil },
		// can, signedIn and role are bound per role by rolePages; these
		// are what a UI without authentication shows.
		"can":      func(string) bool { return true },
		"signedIn": func() bool { return false },
		"role":     func() string { return "" },
		"zts":      func(t time.Time) string { return t.Format("Mon 2006-01-02 15:04:05 MST") },
		"frag":     fragmentData,
		"kind":     eventKind,
		"withBack": func(v any, back string) any {
			return struct {
				Row  any
				Back string
			}{v, back}
		},
		"rawOf": func(v jsonView, raw string) any {
			return struct {
				View jsonView
				Raw  string
			}{v, raw}
		},
		"graphOf": func(g graphData, label string) any {
			return struct {
				G     svgGraph
				Label string
			}{layoutGraph(g), label}
		},
		"addf": func(a, b float64) float64 { return a + b },
		"neg":  func(d time.Duration) time.Duration { return -d },
	}
	maps.Copy(funcs, u.csrf.funcs())
	pages := []string{"overview", "tasks", "task", "queues", "workers", "types", "type", "submit", "error", "bulk", "compare",
		"schedules", "schedule", "triggers", "checks", "alerts", "servers"}
	out := make(map[string]*template.Template, len(pages))
	for _, name := range pages {
		t := template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/partials.html", "templates/"+name+".html"))
		out[name] = t
	}
	return out
}

// ago takes a time.Time or a *time.Time.
func (u *UI) ago(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x != nil {
			t = *x
		}
	}
	if t.IsZero() {
		return "—"
	}
	d := u.cfg.Now().Sub(t)
	if d < time.Second && d > -time.Second {
		return "just now"
	}
	if d < 0 {
		return "in " + roughDuration(-d)
	}
	return roughDuration(d) + " ago"
}

// roughDuration is a duration to the unit a reader cares about.
func roughDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func formatTimePtr(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return formatTime(*t)
}

func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// formatDuration prints a duration with precision that fits its size.
func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "—"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		s := strconv.FormatFloat(d.Seconds(), 'f', 2, 64)
		return strings.TrimSuffix(strings.TrimRight(s, "0"), ".") + "s"
	}
	// "5m", "1h30m", "2h0m5s": trailing zero units dropped, so that a
	// timeout reads as it was configured.
	s := d.Round(time.Second).String()
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// between is the time from a to b, or from a until now while b is unset.
func (u *UI) between(a, b *time.Time) string {
	if a == nil {
		return "—"
	}
	end := u.cfg.Now()
	if b != nil {
		end = *b
	}
	return formatDuration(end.Sub(*a))
}

// ratio is a/b as a percentage, 0 when b is 0.
func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return math.Round(float64(a)/float64(b)*10000) / 100
}

// shortID is the tail of an id, enough to tell tasks apart in a list (a
// UUIDv7's head is its timestamp, the same for tasks created together).
func shortID(id string) string {
	if len(id) <= 12 {
		return id
	}
	return "…" + id[len(id)-8:]
}
