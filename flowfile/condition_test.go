package flowfile_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/flowfile"
)

// if: and compensate: that cannot work are errors at load, naming the
// file, the line and the step.
func TestConditionAndCompensateErrors(t *testing.T) {
	t.Parallel()
	const head = "name: f\ninputs: [mode]\nsteps:\n  - name: s\n    exec: [true]\n"
	tests := []struct{ name, data, want string }{
		{"braces", head + "    if: \"{{.mode}}\"\n", `f.yaml:6: step "s": if: write the condition without {{ }}, as in ` + "`" + `eq .mode "full"` + "`"},
		{"bad syntax", head + "    if: eq .mode (\n", `f.yaml:6: step "s": if: bad condition: `},
		{"unknown key", head + "    if: .later\n", `f.yaml:6: step "s": if: condition uses .later, which is not a flow input or a key an earlier step provides`},
		{"empty", head + "    if: \"\"\n", `f.yaml:6: step "s": if`},
		{"unknown compensate field", head + "    compensate: {exec: [true], retries: 3}\n", `f.yaml:6: step "s": compensate: unknown field "retries" (want one of exec, http, docker, type, input, retry, timeout)`},
		{"compensate without kind", head + "    compensate: {timeout: 5s}\n", `f.yaml:6: step "s": needs one of exec, http, docker or type`},
		{"compensate not a mapping", head + "    compensate: [true]\n", `f.yaml:6: step "s": compensate: want a mapping`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := flowfile.Parse("f.yaml", []byte(tt.data))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error\n got: %v\nwant: %s...", err, tt.want)
			}
			var fe *flowfile.Error
			if !errors.As(err, &fe) || fe.Line != 6 {
				t.Errorf("error %v is not a *flowfile.Error on line 6", err)
			}
		})
	}
	// An unknown compensation type is found at Build, on its line.
	f, err := flowfile.Parse("f.yaml", []byte(head+"    compensate:\n      type: nope\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Build(flowfile.Tasks{}); err == nil || !strings.Contains(err.Error(), `f.yaml:7: step "s.compensate": unknown task type "nope"`) {
		t.Fatalf("build error %v, want the unknown compensation type on line 7", err)
	}
}

// A flow file's if: skips a step whose condition is false, and its
// compensate: undoes completed steps, last completed first, when the flow
// fails.
func TestConditionAndCompensateRun(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var calls []string
	task := func(name string, fail bool) *loom.Task {
		return loom.NewTask(name, loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
			mu.Lock()
			id, _ := in["id"].(string)
			calls = append(calls, name+":"+id)
			mu.Unlock()
			if fail {
				return nil, loom.Permanent(errors.New("broken"))
			}
			return loom.Values{"id": name + "-1"}, nil
		}))
	}
	reg := flowfile.Tasks{
		"book": task("book", false), "unbook": task("unbook", false), "pay": task("pay", false),
		"refund": task("refund", false), "bonus": task("bonus", false), "ship": task("ship", true),
	}
	f, err := flowfile.Parse("saga.yaml", []byte(`name: saga
inputs: [mode]
steps:
  - name: book
    type: book
    provides: {id: booking}
    compensate: {type: unbook}
  - name: bonus
    type: bonus
    if: eq .mode "vip"
  - name: pay
    type: pay
    requires: {booking: booking}
    compensate:
      type: refund
      retry: {max_attempts: 2}
  - name: ship
    type: ship
    depends_on: [pay, bonus]
`))
	if err != nil {
		t.Fatal(err)
	}
	flow, err := f.Build(reg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := loom.NewSyncExecutor(loom.Config{}).Execute(context.Background(), flow, loom.Values{"mode": "plain"})
	if err == nil {
		t.Fatal("the flow completed; ship fails")
	}
	if st := res.Steps["bonus"].Status; st != loom.StatusSkipped {
		t.Errorf("bonus %s, want skipped (mode is not vip)", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(calls, " "); got != "book: pay: ship: refund:pay-1 unbook:book-1" {
		t.Fatalf("calls %q, want book, pay, ship, then refund and unbook with the steps' outputs", got)
	}
}
