package flowfile

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/runtime/execrt"
	"github.com/loomhq/loom/runtime/httprt"
)

// These tests build each step's task without loom.NewFlow, and call its
// handler directly with the input the flow would pass it.

// echo is a task that returns its input, to see what a step receives.
var echo = loom.NewTask("echo", loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
	return in.Clone(), nil
}))

func stepTaskOf(t *testing.T, data string, reg Resolver) (*Step, *loom.Task) {
	t.Helper()
	f, err := Parse("f.yaml", []byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	s := f.Steps[len(f.Steps)-1]
	task, err := f.stepTask(s, reg, runtimes{exec: execrt.New(execrt.Config{}), http: httprt.New(httprt.Config{})})
	if err != nil {
		t.Fatalf("stepTask: %v", err)
	}
	return s, task
}

func TestStepTasks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		data      string
		in        loom.Values
		wantName  string
		want      loom.Values // the handler's output
		wantErr   string
		permanent bool
		check     func(t *testing.T, task *loom.Task)
	}{
		{
			name:     "exec templates rendered from the input",
			data:     "name: f\ninputs: [who]\nsteps:\n  - name: s\n    exec: [printf, '%s|%s', 'hello {{.who}}', '{{json .who}}']\n",
			in:       loom.Values{"who": "world"},
			wantName: "f/s", // every step has a type of its own
			want:     loom.Values{"exit_code": 0, "stdout": `hello world|"world"`},
		},
		{
			name:     "exec env, dir and stdin rendered, static input visible, requires wins",
			data:     "name: f\ninputs: [a]\nsteps:\n  - name: s\n    exec:\n      command: [sh, -c, 'printf \"%s %s %s \" \"$A\" \"$M\" \"$(pwd)\"; cat']\n      env: {A: '{{.x}}', M: '{{.mode}}'}\n      dir: '{{.dir}}'\n      stdin: 'in={{.x}}'\n    input: {mode: slow, x: static, dir: /}\n    requires: {x: a}\n",
			in:       loom.Values{"x": "wired"},
			wantName: "f/s", // every step has a type of its own
			want:     loom.Values{"exit_code": 0, "stdout": "wired slow / in=wired"},
		},
		{
			name:      "missing template input fails permanently",
			data:      "name: f\ninputs: [who]\nsteps:\n  - name: s\n    exec: [echo, '{{.who}}']\n",
			in:        loom.Values{},
			wantErr:   `step "s": template "{{.who}}": at <.who>: map has no entry for key "who"`,
			permanent: true,
		},
		{
			name:      "http templates rendered, runtime errors pass through",
			data:      "name: f\ninputs: [url]\nsteps:\n  - name: s\n    http: {url: '{{.url}}'}\n",
			in:        loom.Values{"url": "ftp://nowhere"},
			wantName:  "f/s", // every step has a type of its own
			wantErr:   `"ftp://nowhere" is not an absolute http or https URL`,
			permanent: true,
		},
		{
			name:     "type step gets static input under what it receives",
			data:     "name: f\ninputs: [a]\nsteps:\n  - name: s\n    type: echo\n    input: {a: static, b: static}\n",
			in:       loom.Values{"a": "wired"},
			wantName: "f/s", // every step has a type of its own
			want:     loom.Values{"a": "wired", "b": "static"},
		},
		{
			name:     "type step without input keeps the task's handler",
			data:     "name: f\nsteps:\n  - name: s\n    type: echo\n",
			in:       loom.Values{"a": 1},
			wantName: "f/s", // every step has a type of its own
			want:     loom.Values{"a": 1},
			check: func(t *testing.T, task *loom.Task) {
				if _, wrapped := task.Handler.(*withInput); wrapped {
					t.Error("handler wrapped without static input")
				}
			},
		},
		{
			name:     "retry and timeout override the task's",
			data:     "name: f\nsteps:\n  - name: s\n    type: echo\n    retry: {max_attempts: 4, initial_delay: 2s}\n    timeout: 3s\n",
			in:       loom.Values{},
			wantName: "f/s", // every step has a type of its own
			want:     loom.Values{},
			check: func(t *testing.T, task *loom.Task) {
				if task.Retry == nil || task.Retry.MaxAttempts != 4 || task.Retry.InitialDelay != 2*time.Second || task.Timeout != 3*time.Second {
					t.Errorf("retry %+v timeout %s", task.Retry, task.Timeout)
				}
				if echo.Retry != nil || echo.Timeout != 0 {
					t.Error("the resolved task was changed")
				}
			},
		},
		{
			name:     "type exec falls back to the built-in",
			data:     "name: f\nsteps:\n  - name: s\n    type: exec\n    input: {command: [echo, '{{.not_a_template}}']}\n",
			in:       loom.Values{},
			wantName: "f/s", // every step has a type of its own
			want:     loom.Values{"exit_code": 0, "stdout": "{{.not_a_template}}\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, task := stepTaskOf(t, tt.data, Tasks{"echo": echo})
			if tt.wantName != "" && task.Name != tt.wantName {
				t.Errorf("task name %q, want %q", task.Name, tt.wantName)
			}
			out, err := task.Handler.Handle(t.Context(), tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if loom.IsPermanent(err) != tt.permanent {
					t.Errorf("IsPermanent(%v) = %v, want %v", err, !tt.permanent, tt.permanent)
				}
				return
			}
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if len(out) != len(tt.want) {
				t.Errorf("output %v, want %v", out, tt.want)
			}
			for k, v := range tt.want {
				if out[k] != v {
					t.Errorf("output[%q] = %#v, want %#v", k, out[k], v)
				}
			}
			if tt.check != nil {
				tt.check(t, task)
			}
		})
	}
}

// TestRuntimeStepsReceiveOnlyWhatTheyRequire: an exec, docker or
// kubernetes step without requires receives none of the flow's inputs, so
// a submitter's "image" or "command" cannot replace the file's.
func TestRuntimeStepsReceiveOnlyWhatTheyRequire(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"exec", "docker", "kubernetes"} {
		f, err := Parse("f.yaml", []byte("name: f\ninputs: [image]\nsteps:\n  - name: s\n    type: "+typ+"\n    input: {image: mine}\n"))
		if err != nil {
			t.Fatal(err)
		}
		task, err := f.Build(Tasks{typ: echo})
		if err != nil {
			t.Fatal(err)
		}
		s, ok := task.Handler.(*loom.Flow).Step("s")
		if !ok || s.Requires == nil || len(s.Requires) != 0 {
			t.Errorf("type %s: requires %v, want an empty map", typ, s.Requires)
		}
	}
}
