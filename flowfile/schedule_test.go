package flowfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/flowfile"
	"github.com/loomhq/loom/schedule"
)

func TestParseSchedules(t *testing.T) {
	t.Parallel()
	const steps = "steps:\n  - name: s\n    exec: [true]\n"
	tests := []struct {
		name string
		data string
		want []*flowfile.Schedule
	}{
		{
			name: "a cron expression alone",
			data: "name: f\nschedule: '@daily'\n" + steps,
			want: []*flowfile.Schedule{{Line: 2, Def: schedule.Schedule{Name: "f", Cron: "@daily"}}},
		},
		{
			name: "one mapping with every field",
			data: `name: report
inputs: [region]
schedule:
  name: nightly-report
  cron: "30 2 * * *"
  timezone: Europe/Berlin
  overlap: queue
  catchup: {mode: run_all, limit: 5}
  jitter: 30s
  grace: 2m
  input: {region: eu}
` + steps,
			want: []*flowfile.Schedule{{Line: 4, Input: loom.Values{"region": "eu"}, Def: schedule.Schedule{
				Name: "nightly-report", Cron: "30 2 * * *", TimeZone: "Europe/Berlin", Overlap: schedule.OverlapQueue,
				CatchUp: schedule.CatchUp{Mode: schedule.CatchUpRunAll, Limit: 5}, Jitter: 30 * time.Second, Grace: 2 * time.Minute,
			}}},
		},
		{
			name: "a list: default names <flow>-<n>",
			data: `name: f
schedule:
  - cron: "@every 10m"
    catchup: skip_missed
  - {cron: "0 0 6 * * MON-FRI", name: weekdays}
  - "@hourly"
` + steps,
			want: []*flowfile.Schedule{
				{Line: 3, Def: schedule.Schedule{Name: "f-1", Cron: "@every 10m", CatchUp: schedule.CatchUp{Mode: schedule.CatchUpSkipMissed}}},
				{Line: 5, Def: schedule.Schedule{Name: "weekdays", Cron: "0 0 6 * * MON-FRI"}},
				{Line: 6, Def: schedule.Schedule{Name: "f-3", Cron: "@hourly"}},
			},
		},
		{
			name: "a list of one keeps the flow's name",
			data: "name: f\nschedule: [{cron: '@daily'}]\n" + steps,
			want: []*flowfile.Schedule{{Line: 2, Def: schedule.Schedule{Name: "f", Cron: "@daily"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := flowfile.Parse("f.yaml", []byte(tt.data))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(f.Schedules, tt.want) {
				for i, s := range f.Schedules {
					t.Logf("got %d: %+v", i, *s)
				}
				t.Errorf("schedules differ from want")
			}
		})
	}
}

func TestParseScheduleErrors(t *testing.T) {
	t.Parallel()
	const head = "name: f\ninputs: [a]\nschedule:\n"
	tests := []struct {
		name string
		data string
		want string
	}{
		{"bad cron", head + "  cron: '61 * * * *'\n  input: {a: 1}\n", `f.yaml:4: flow "f": schedule.cron: invalid schedule expression "61 * * * *"`},
		{"bad cron alone", "name: f\nschedule: 'every day'\n", `f.yaml:2: flow "f": schedule: invalid schedule expression "every day"`},
		{"bad cron in a list", head + "  - {cron: '@daily', input: {a: 1}}\n  - {cron: '@sometimes', input: {a: 1}}\n", `f.yaml:5: flow "f": schedule[1].cron: invalid schedule expression "@sometimes"`},
		{"bad time zone", head + "  cron: '@daily'\n  timezone: Mars/Olympus\n  input: {a: 1}\n", `f.yaml:5: flow "f": schedule.timezone: `},
		{"no cron", head + "  timezone: UTC\n", `f.yaml:4: schedule: cron is required`},
		{"unknown field", head + "  cron: '@daily'\n  every: 1h\n", `f.yaml:5: schedule: unknown field "every" (want one of name, cron, timezone, overlap, catchup, jitter, grace, input)`},
		{"bad overlap", head + "  cron: '@daily'\n  overlap: pile\n", `f.yaml:5: schedule.overlap: "pile" is not skip, queue or allow`},
		{"bad catchup", head + "  cron: '@daily'\n  catchup: all\n", `f.yaml:5: schedule.catchup: "all" is not skip_missed, run_once or run_all`},
		{"bad catchup mode", head + "  cron: '@daily'\n  catchup: {mode: all}\n", `f.yaml:5: schedule.catchup.mode: "all" is not skip_missed, run_once or run_all`},
		{"catchup limit zero", head + "  cron: '@daily'\n  catchup: {mode: run_all, limit: 0}\n", `f.yaml:5: schedule.catchup.limit: must be at least 1, got 0`},
		{"catchup without mode", head + "  cron: '@daily'\n  catchup: {limit: 3}\n", `f.yaml:5: schedule.catchup: mode is required`},
		{"bad jitter", head + "  cron: '@daily'\n  jitter: lots\n", `f.yaml:5: schedule.jitter: "lots" is not a duration (like 30s, 5m or 1h30m)`},
		{"negative jitter", head + "  cron: '@daily'\n  jitter: -1s\n", `f.yaml:5: schedule.jitter: -1s is negative`},
		{"input not a flow input", head + "  cron: '@daily'\n  input: {a: 1, b: 2}\n", `f.yaml:5: schedule.input: "b" is not an input of flow "f" (inputs: a)`},
		{"input missing", head + "  cron: '@daily'\n", `f.yaml:4: schedule: flow "f" needs input a; give it under input:`},
		{"input a list", head + "  cron: '@daily'\n  input: [a]\n", `f.yaml:5: schedule.input: want a mapping, got a list`},
		{"bad name", head + "  cron: '@daily'\n  name: a/b\n  input: {a: 1}\n", `f.yaml:5: schedule.name: "a/b" is not a valid schedule name`},
		{"flow name not a schedule name", "name: _f\nschedule: {cron: '@daily'}\n", `f.yaml:2: schedule: the default name "_f" is not a valid schedule name; give one with name:`},
		{"duplicate names", "name: f\nschedule:\n  - {cron: '@daily', name: x}\n  - {cron: '@hourly', name: x}\n", `f.yaml:4: schedule[1]: name "x" is used twice (first on line 3)`},
		{"empty list", "name: f\nschedule: []\n", `f.yaml:2: schedule: the list is empty; leave schedule out for none`},
		{"empty", "name: f\nschedule: ''\n", `f.yaml:2: schedule: must not be empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := tt.data
			if !strings.Contains(data, "steps:") {
				data += "steps:\n  - name: s\n    exec: [true]\n"
			}
			_, err := flowfile.Parse("f.yaml", []byte(data))
			if err == nil {
				t.Fatalf("Parse succeeded, want %q", tt.want)
			}
			var fe *flowfile.Error
			if !errors.As(err, &fe) || !errors.Is(err, loom.ErrInvalidFlow) {
				t.Errorf("error %T %v is not a *flowfile.Error matching loom.ErrInvalidFlow", err, err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error\n  %s\nwant it to start with\n  %s", err, tt.want)
			}
		})
	}
}

func TestLoadDirScheduleNameClash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "name: a\nschedule: {cron: '@daily', name: b}\nsteps: [{name: s, exec: [true]}]\n")
	write("b.yaml", "name: b\nschedule: '@hourly'\nsteps: [{name: s, exec: [true]}]\n")
	files, err := flowfile.LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), `b.yaml:2: schedule "b" is already declared in `+filepath.Join(dir, "a.yaml")) {
		t.Errorf("LoadDir error = %v", err)
	}
	if len(files) != 1 || files[0].Name != "a" {
		t.Errorf("LoadDir kept %d files", len(files))
	}
}
