package schedule

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	cron "github.com/netresearch/go-cron"
)

// ErrInvalidSpec is wrapped by every error Parse returns, so that callers
// (the API turning errors into 400s) can branch on it with errors.Is.
var ErrInvalidSpec = errors.New("invalid schedule expression")

// MaxExprLength bounds the expression Parse accepts; longer input is
// rejected before any parsing work is done.
const MaxExprLength = 512

// MinEvery is the shortest interval `@every` accepts: loom schedules to the
// second, and a faster schedule would only flood the store.
const MinEvery = time.Second

// dstWindow bounds how far a daylight-saving transition can move a wall
// clock (real zones move by at most two hours); Next looks this far around a
// transition for wall-clock times that it moved.
const dstWindow = 3 * time.Hour

// searchYears bounds how far ahead Next looks for a match; ten years covers
// the longest gap between two February 29ths (2096 to 2104).
const searchYears = 10

// fieldNames names the six fields in order, for error messages.
var fieldNames = [6]string{"second", "minute", "hour", "day-of-month", "month", "day-of-week"}

// descriptors are the named expressions, written as the 5-field expressions
// they stand for.
var descriptors = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// parser reads six fields (seconds first) with classic OR semantics for
// day-of-month and day-of-week; Parse prepends "0" to 5-field expressions.
var parser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom |
	cron.Month | cron.Dow | cron.DowOrDom).WithMaxSearchYears(searchYears)

// Spec is a parsed schedule expression in its time zone: the answer to
// "when does this fire next?". It is immutable and safe for concurrent use.
//
// Semantics, where cron implementations differ:
//
//   - Day-of-month and day-of-week: when both fields are restricted (neither
//     is exactly `*`), a day matches if EITHER matches, as in Vixie cron and
//     POSIX: "0 0 1 * MON" fires on the 1st and on every Monday. When one
//     of them is `*`, only the other one restricts.
//   - Spring forward (a wall-clock hour is skipped): a fixed-time
//     expression whose time falls in the gap fires once, at that wall time
//     read with the offset in force before the change, so 02:30 fires at
//     03:30 when clocks jump from 02:00 to 03:00 (what time.Date does with
//     a time that does not exist). Interval-like expressions (see below) just
//     have no fires inside the gap: hourly fires at 01:00 and then 03:00.
//   - Fall back (a wall-clock hour repeats): a fixed-time expression fires
//     once, on the first pass (01:30 EDT, not again at 01:30 EST).
//     Interval-like expressions fire on both passes, so "every 30 minutes"
//     keeps firing every 30 real minutes.
//   - Interval-like means the second, minute or hour field starts with `*`
//     ("*/30 * * * *", "0 * * * *", "@hourly"): Vixie cron's rule.
//   - `@every <duration>` is an absolute interval, immune to time zones and
//     DST: each fire is the previous one plus the duration. Its grid is
//     anchored on the time passed to Next, so pass the last fire time.
type Spec struct {
	expr     string // normalised expression, as written (fields single-spaced)
	loc      *time.Location
	every    time.Duration      // > 0 for @every
	sched    *cron.SpecSchedule // wall-clock matcher, evaluated in UTC
	interval bool               // second, minute or hour field starts with '*'
}

// Parse reads a schedule expression in time zone tz:
//
//   - 5 fields: minute hour day-of-month month day-of-week
//   - 6 fields: second minute hour day-of-month month day-of-week
//   - @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly
//   - @every <Go duration>, at least one second ("@every 10m", "@every 1h30m")
//
// Fields take numbers, `*`, ranges `a-b`, steps `/n`, lists `a,b`, and the
// names JAN-DEC and SUN-SAT (case-insensitive); day-of-week 0 and 7 are both
// Sunday. tz is an IANA name such as "Europe/Berlin"; empty means UTC. A
// leading "CRON_TZ=<zone> " in expr is accepted when tz is empty or the
// same zone. An expression that can never fire (30 February) is rejected.
// Errors wrap ErrInvalidSpec and name the field at fault.
func Parse(expr string, tz string) (*Spec, error) {
	s, err := parse(expr, tz)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrInvalidSpec, truncate(expr), err)
	}
	return s, nil
}

// MustParse is Parse for expressions known to be valid, as in tests and
// package-level variables; it panics on error.
func MustParse(expr string, tz string) *Spec {
	s, err := Parse(expr, tz)
	if err != nil {
		panic(err)
	}
	return s
}

func parse(expr string, tz string) (*Spec, error) {
	if len(expr) > MaxExprLength {
		return nil, fmt.Errorf("longer than %d bytes", MaxExprLength)
	}
	expr = strings.TrimSpace(expr)
	if zone, rest, ok := cutZonePrefix(expr); ok {
		if tz != "" && tz != zone {
			return nil, fmt.Errorf("CRON_TZ=%s conflicts with time zone %q", zone, tz)
		}
		tz, expr = zone, strings.TrimSpace(rest)
	}
	loc, err := LoadZone(tz)
	if err != nil {
		return nil, err
	}
	if expr == "" {
		return nil, errors.New("empty expression")
	}
	if strings.HasPrefix(expr, "@every") {
		return parseEvery(expr, loc)
	}
	text := expr
	if strings.HasPrefix(expr, "@") {
		d, ok := descriptors[strings.ToLower(expr)]
		if !ok {
			return nil, errors.New("unknown descriptor; want @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>")
		}
		text, expr = d, strings.ToLower(expr)
	}
	fields := strings.Fields(text)
	switch len(fields) {
	case 5:
		fields = append([]string{"0"}, fields...)
	case 6:
	default:
		return nil, fmt.Errorf("got %d fields, want 5 (minute hour day-of-month month day-of-week) or 6 (second first)", len(fields))
	}
	written := slices.Clone(fields)
	for i, f := range fields {
		// The library reads any field containing "H" as a hash
		// expression; names are case-insensitive, so lower-case them.
		fields[i] = strings.ToLower(f)
	}
	if len(strings.Fields(expr)) > 1 {
		expr = strings.Join(strings.Fields(expr), " ")
	}
	sched, err := parseFields(fields, written)
	if err != nil {
		return nil, err
	}
	s := &Spec{
		expr:     expr,
		loc:      loc,
		sched:    sched,
		interval: fields[0][0] == '*' || fields[1][0] == '*' || fields[2][0] == '*',
	}
	if s.sched.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, errors.New("day-of-month field: never matches in the months given")
	}
	return s, nil
}

// parseFields parses six lower-cased fields; on error it finds the first
// field that is wrong on its own, so the message names it.
func parseFields(fields, written []string) (*cron.SpecSchedule, error) {
	sched, err := parser.Parse("CRON_TZ=UTC " + strings.Join(fields, " "))
	if err != nil {
		for i, f := range fields {
			probe := []string{"0", "*", "*", "*", "*", "*"}
			probe[i] = f
			if _, perr := parser.Parse("CRON_TZ=UTC " + strings.Join(probe, " ")); perr != nil {
				return nil, fmt.Errorf("%s field %q: %w", fieldNames[i], written[i], perr)
			}
		}
		return nil, err
	}
	spec, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("unexpected schedule type %T", sched)
	}
	spec.Location = time.UTC
	return spec, nil
}

func parseEvery(expr string, loc *time.Location) (*Spec, error) {
	arg, ok := strings.CutPrefix(expr, "@every ")
	arg = strings.TrimSpace(arg)
	if !ok || arg == "" {
		return nil, errors.New("@every needs a duration, as in \"@every 10m\"")
	}
	d, err := time.ParseDuration(arg)
	if err != nil {
		return nil, fmt.Errorf("@every duration: %w", err)
	}
	if d < MinEvery {
		return nil, fmt.Errorf("@every duration %s is shorter than %s", d, MinEvery)
	}
	return &Spec{expr: "@every " + arg, loc: loc, every: d}, nil
}

// cutZonePrefix splits "CRON_TZ=Zone rest" (or "TZ=Zone rest").
func cutZonePrefix(expr string) (zone, rest string, ok bool) {
	for _, p := range []string{"CRON_TZ=", "TZ="} {
		if after, found := strings.CutPrefix(expr, p); found {
			zone, rest, _ = strings.Cut(after, " ")
			return zone, rest, true
		}
	}
	return "", "", false
}

// LoadZone resolves an IANA time zone name; empty means UTC. "Local" is
// refused: a schedule must mean the same on every machine.
func LoadZone(tz string) (*time.Location, error) {
	switch tz {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		return nil, errors.New(`time zone "Local" differs between machines; name the zone`)
	}
	if len(tz) > 64 || strings.ContainsFunc(tz, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("/_-+", r))
	}) || strings.Contains(tz, "..") || strings.HasPrefix(tz, "/") {
		return nil, fmt.Errorf("time zone %q: not an IANA zone name", truncate(tz))
	}
	if loc, ok := zones.Load(tz); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", tz, err)
	}
	zones.Store(tz, loc)
	return loc, nil
}

// zones caches loaded time zones: time.LoadLocation reads the zone database
// on every call, and Plan parses its schedule on every tick.
var zones sync.Map // string -> *time.Location

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// String returns the expression in a form Parse reads back to the same
// Spec: fields single-spaced, with a "CRON_TZ=<zone> " prefix unless the
// zone is UTC.
func (s *Spec) String() string {
	if s.loc == time.UTC {
		return s.expr
	}
	return "CRON_TZ=" + s.loc.String() + " " + s.expr
}

// Location returns the time zone the expression's wall-clock fields are
// read in (UTC unless Parse was given a zone).
func (s *Spec) Location() *time.Location { return s.loc }

// Every returns the interval of an `@every` expression, or 0 for a cron
// expression.
func (s *Spec) Every() time.Duration { return s.every }

// Next returns the first fire time strictly after after, in after's
// location, or the zero time if the expression never fires again within ten
// years. See Spec for the DST rules it follows.
func (s *Spec) Next(after time.Time) time.Time {
	if s.every > 0 {
		return after.Add(s.every)
	}
	out := after.Location()
	best := s.nextForward(after)
	// Around a DST transition, wall-clock times before civil(after) can
	// map to instants after it (the repeated hour, or a gap time moved
	// forward); look at those wall times as well.
	start, end := after.In(s.loc).ZoneBounds()
	for _, tr := range []time.Time{start, end} {
		if tr.IsZero() || tr.Sub(after) > dstWindow || after.Sub(tr) > dstWindow {
			continue
		}
		if t := s.nextAround(tr, after); !t.IsZero() && (best.IsZero() || t.Before(best)) {
			best = t
		}
	}
	if best.IsZero() {
		return best
	}
	return best.In(out)
}

// NextN returns the next n fire times after after, oldest first; fewer if
// the expression stops firing. For `@every` the times are after plus
// multiples of the interval.
func (s *Spec) NextN(after time.Time, n int) []time.Time {
	out := make([]time.Time, 0, max(n, 0))
	t := after
	for range n {
		t = s.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}

// nextForward walks wall-clock matches from civil(after) on and returns
// the first instant after after.
func (s *Spec) nextForward(after time.Time) time.Time {
	c := civil(after, s.loc)
	limit := c.AddDate(searchYears, 0, 0)
	for {
		c = s.sched.Next(c)
		if c.IsZero() || c.After(limit) {
			return time.Time{}
		}
		for _, t := range s.instants(c) {
			if t.After(after) {
				return t
			}
		}
	}
}

// nextAround returns the first instant after after among the wall-clock
// times that the transition at tr skips or repeats.
func (s *Spec) nextAround(tr, after time.Time) time.Time {
	a, b := civil(tr.Add(-time.Nanosecond), s.loc), civil(tr, s.loc)
	lo, hi := a, b
	if b.Before(a) {
		lo, hi = b, a
	}
	var best time.Time
	for c := s.sched.Next(lo.Add(-time.Second)); !c.IsZero() && !c.After(hi); c = s.sched.Next(c) {
		for _, t := range s.instants(c) {
			if t.After(after) && (best.IsZero() || t.Before(best)) {
				best = t
			}
		}
	}
	return best
}

// instants returns the real instants, oldest first, at which wall-clock
// time c (fields held in a UTC time) fires in the spec's zone.
func (s *Spec) instants(c time.Time) []time.Time {
	guess := time.Date(c.Year(), c.Month(), c.Day(), c.Hour(), c.Minute(), c.Second(), c.Nanosecond(), s.loc)
	var offsets []int
	for _, probe := range []time.Time{guess.Add(-dstWindow), guess, guess.Add(dstWindow)} {
		_, off := probe.Zone()
		if len(offsets) == 0 || offsets[len(offsets)-1] != off {
			offsets = append(offsets, off)
		}
	}
	var out []time.Time
	minOff := offsets[0]
	for _, off := range offsets {
		minOff = min(minOff, off)
		t := c.Add(-time.Duration(off) * time.Second).In(s.loc)
		if civil(t, s.loc).Equal(c) && (len(out) == 0 || !out[len(out)-1].Equal(t)) {
			out = append(out, t)
		}
	}
	if len(out) == 2 && out[1].Before(out[0]) {
		out[0], out[1] = out[1], out[0]
	}
	switch {
	case len(out) == 0 && s.interval: // in a spring-forward gap
		return nil
	case len(out) == 0:
		return []time.Time{c.Add(-time.Duration(minOff) * time.Second).In(s.loc)}
	case len(out) > 1 && !s.interval: // in a fall-back overlap
		return out[:1]
	}
	return out
}

// civil returns t's wall-clock reading in loc, as the same fields in UTC.
func civil(t time.Time, loc *time.Location) time.Time {
	w := t.In(loc)
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), time.UTC)
}
