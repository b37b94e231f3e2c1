package flowfile

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/schedule"
)

// Schedule is a cron schedule a flow file declares for its flow. A server
// that loads the file (loom server --flows) creates the schedule, or
// updates it on a later start, keeping its state; `loom run` ignores it.
type Schedule struct {
	// Def is the schedule's definition. Def.Name defaults to the flow's
	// name, or "<flow>-<n>" (n from 1) when the file declares several;
	// Def.Paused is never set by a file, so that pausing a schedule
	// through the API or CLI survives restarts.
	Def schedule.Schedule
	// Input is the input each run of the flow gets; it gives every one of
	// the flow's inputs.
	Input loom.Values
	// Line is where the schedule is declared in the file.
	Line int
}

// scheduleFields are the fields of a schedule mapping.
var (
	scheduleFields = []string{"name", "cron", "timezone", "overlap", "catchup", "jitter", "grace", "input"}
	catchUpFields  = []string{"mode", "limit"}
)

// scheduleNameRE is what a schedule name may look like: the API's rule,
// stricter than a flow name's (no leading '_').
var scheduleNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// schedules parses the schedule field: one schedule (a mapping, or a cron
// expression alone) or a list of them.
func (p *parser) schedules(n *yaml.Node, f *File) ([]*Schedule, error) {
	r, err := p.resolve(n)
	if err != nil {
		return nil, err
	}
	if r.Kind != yaml.SequenceNode {
		s, err := p.scheduleAt(r, "schedule", f, f.Name)
		if err != nil {
			return nil, err
		}
		return []*Schedule{s}, nil
	}
	if len(r.Content) == 0 {
		return nil, p.errorf(r, "schedule: the list is empty; leave schedule out for none")
	}
	var (
		out   []*Schedule
		lines = map[string]int{}
	)
	for i, item := range r.Content {
		def := f.Name
		if len(r.Content) > 1 {
			def = fmt.Sprintf("%s-%d", f.Name, i+1)
		}
		s, err := p.scheduleAt(item, fmt.Sprintf("schedule[%d]", i), f, def)
		if err != nil {
			return nil, err
		}
		if line, dup := lines[s.Def.Name]; dup {
			return nil, p.errorf(item, "schedule[%d]: name %q is used twice (first on line %d)", i, s.Def.Name, line)
		}
		lines[s.Def.Name] = s.Line
		out = append(out, s)
	}
	return out, nil
}

// scheduleAt parses one schedule; defName is its name when it has none.
func (p *parser) scheduleAt(n *yaml.Node, path string, f *File, defName string) (*Schedule, error) {
	r, err := p.resolve(n)
	if err != nil {
		return nil, err
	}
	s := &Schedule{Line: r.Line, Def: schedule.Schedule{Name: defName}}
	if r.Kind == yaml.ScalarNode {
		// The shorthand: a cron expression alone.
		if s.Def.Cron, err = p.nonEmpty(r, path); err != nil {
			return nil, err
		}
		if err := p.checkCron(r, path, s.Def.Cron, "", f.Name); err != nil {
			return nil, err
		}
		return s, p.checkScheduleInput(r, path, f, s)
	}
	fields, err := p.mapping(r, path)
	if err != nil {
		return nil, err
	}
	if err := p.allowed(fields, path, scheduleFields); err != nil {
		return nil, err
	}
	fs := byName(fields)
	if nf, ok := fs["name"]; ok {
		if s.Def.Name, err = p.nonEmpty(nf.val, path+".name"); err != nil {
			return nil, err
		}
		if !scheduleNameRE.MatchString(s.Def.Name) {
			return nil, p.errorf(nf.val, "%s", at(path+".name", fmt.Sprintf("%q is not a valid schedule name: use letters, digits, '_', '-' and '.', at most 128, starting with a letter or digit", s.Def.Name)))
		}
	} else if !scheduleNameRE.MatchString(defName) {
		return nil, p.errorf(r, "%s", at(path, fmt.Sprintf("the default name %q is not a valid schedule name; give one with name:", defName)))
	}
	if tz, ok := fs["timezone"]; ok {
		if s.Def.TimeZone, err = p.nonEmpty(tz.val, path+".timezone"); err != nil {
			return nil, err
		}
		if _, err := schedule.LoadZone(s.Def.TimeZone); err != nil {
			return nil, p.errorf(tz.val, "flow %q: %s", f.Name, at(path+".timezone", err.Error()))
		}
	}
	cf, ok := fs["cron"]
	if !ok {
		return nil, p.errorf(r, "%s", at(path, "cron is required"))
	}
	if s.Def.Cron, err = p.nonEmpty(cf.val, path+".cron"); err != nil {
		return nil, err
	}
	if err := p.checkCron(cf.val, path+".cron", s.Def.Cron, s.Def.TimeZone, f.Name); err != nil {
		return nil, err
	}
	if o, ok := fs["overlap"]; ok {
		var v string
		if v, err = p.str(o.val, path+".overlap"); err != nil {
			return nil, err
		}
		s.Def.Overlap = schedule.OverlapPolicy(v)
		switch s.Def.Overlap {
		case schedule.OverlapSkip, schedule.OverlapQueue, schedule.OverlapAllow:
		default:
			return nil, p.errorf(o.val, "%s", at(path+".overlap", fmt.Sprintf("%q is not skip, queue or allow", v)))
		}
	}
	if c, ok := fs["catchup"]; ok {
		if s.Def.CatchUp, err = p.catchUp(c.val, path+".catchup"); err != nil {
			return nil, err
		}
	}
	if j, ok := fs["jitter"]; ok {
		if s.Def.Jitter, err = p.duration(j.val, path+".jitter"); err != nil {
			return nil, err
		}
	}
	if g, ok := fs["grace"]; ok {
		if s.Def.Grace, err = p.duration(g.val, path+".grace"); err != nil {
			return nil, err
		}
	}
	if in, ok := fs["input"]; ok {
		if s.Input, err = p.scheduleInput(in.val, path+".input", f); err != nil {
			return nil, err
		}
	}
	if err := s.Def.Validate(); err != nil {
		// Every field is checked above; this is a backstop.
		return nil, p.errorf(r, "%s", at(path, err.Error()))
	}
	return s, p.checkScheduleInput(r, path, f, s)
}

// scheduleInput parses a schedule's input: a mapping whose keys are the
// flow's inputs.
func (p *parser) scheduleInput(n *yaml.Node, path string, f *File) (loom.Values, error) {
	fields, err := p.mapping(n, path)
	if err != nil {
		return nil, err
	}
	for _, fd := range fields {
		if !slices.Contains(f.Inputs, fd.name) {
			return nil, p.errorf(fd.key, "%s", at(path, fmt.Sprintf("%q is not an input of flow %q (%s)", fd.name, f.Name, flowInputs(f))))
		}
	}
	v, err := p.value(n, path, false, 0)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	return loom.Values(m), nil
}

// checkCron parses a cron expression in time zone tz, naming the flow in
// the error.
func (p *parser) checkCron(n *yaml.Node, path, expr, tz, flow string) error {
	if _, err := schedule.Parse(expr, tz); err != nil {
		return p.errorf(n, "flow %q: %s", flow, at(path, err.Error()))
	}
	return nil
}

// checkScheduleInput checks that a schedule gives every flow input, since
// a run without one would fail.
func (p *parser) checkScheduleInput(n *yaml.Node, path string, f *File, s *Schedule) error {
	var missing []string
	for _, in := range f.Inputs {
		if _, ok := s.Input[in]; !ok {
			missing = append(missing, in)
		}
	}
	if len(missing) > 0 {
		return p.errorf(n, "%s", at(path, fmt.Sprintf("flow %q needs input %s; give it under input:", f.Name, strings.Join(missing, ", "))))
	}
	return nil
}

// flowInputs names a flow's inputs for an error message.
func flowInputs(f *File) string {
	if len(f.Inputs) == 0 {
		return "it has none"
	}
	return "inputs: " + strings.Join(f.Inputs, ", ")
}

// catchUp parses a catch-up policy: a mode alone, or {mode, limit}.
func (p *parser) catchUp(n *yaml.Node, path string) (schedule.CatchUp, error) {
	var c schedule.CatchUp
	r, err := p.resolve(n)
	if err != nil {
		return c, err
	}
	modeNode := r
	if r.Kind == yaml.MappingNode {
		fields, err := p.mapping(r, path)
		if err != nil {
			return c, err
		}
		if err := p.allowed(fields, path, catchUpFields); err != nil {
			return c, err
		}
		fs := byName(fields)
		if l, ok := fs["limit"]; ok {
			if c.Limit, err = p.integer(l.val, path+".limit"); err != nil {
				return c, err
			}
			if c.Limit < 1 {
				return c, p.errorf(l.val, "%s", at(path+".limit", fmt.Sprintf("must be at least 1, got %d", c.Limit)))
			}
		}
		m, ok := fs["mode"]
		if !ok {
			return c, p.errorf(r, "%s", at(path, "mode is required"))
		}
		modeNode, path = m.val, path+".mode"
	}
	mode, err := p.str(modeNode, path)
	if err != nil {
		return c, err
	}
	c.Mode = schedule.CatchUpMode(mode)
	switch c.Mode {
	case schedule.CatchUpSkipMissed, schedule.CatchUpRunOnce, schedule.CatchUpRunAll:
	default:
		return c, p.errorf(modeNode, "%s", at(path, fmt.Sprintf("%q is not skip_missed, run_once or run_all", mode)))
	}
	return c, nil
}
