package ui_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
)

// TestTypesPageReadsRight checks the Types page's wording: a step's own
// type says whose step it is and offers no Submit, a one-step flow has "1
// step", attempts without limit say so, timeouts read as configured.
func TestTypesPageReadsRight(t *testing.T) {
	t.Parallel()
	v := setup(t)
	nop := loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) { return nil, nil })
	step := &loom.Task{Name: "solo/only", Handler: nop, Timeout: 5 * time.Minute}
	solo, err := loom.NewFlow("solo", loom.FlowDef{Steps: []loom.Step{{Name: "only", Task: step}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range []*loom.Task{step, solo, v.tm.WaitTask(), {Name: "half", Handler: nop, Timeout: 1500 * time.Millisecond}} {
		if err := v.engine.Register(tk); err != nil {
			t.Fatal(err)
		}
	}
	_, body := v.get(t, "/types")
	row := func(name string) string {
		i := strings.Index(body, `href="/types/`+name+`"`)
		if i < 0 {
			t.Fatalf("no row for %s in\n%s", name, body)
		}
		j := strings.Index(body[i:], "</tr>")
		return body[i : i+j]
	}
	mustContain(t, row("solo%2Fonly"), `step of <a href="/types/solo">solo</a>`, "5m<")
	if strings.Contains(row("solo%2Fonly"), "Submit") {
		t.Errorf("a step's type offers Submit: %s", row("solo%2Fonly"))
	}
	mustContain(t, row("solo"), "flow · 1 step<", "Submit")
	mustContain(t, row("wait"), "no limit")
	mustContain(t, row("half"), "1.5s<")
	_, body = v.get(t, "/types/solo%2Fonly")
	if strings.Contains(body, "/submit?type=") {
		t.Errorf("a step's type page offers Submit")
	}
}

// TestTypePageMeasuresRuns shows a type's success rate, p50 and p95 and a
// bar per ended run.
func TestTypePageMeasuresRuns(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	for i := range 3 {
		tk, _, err := v.engine.Submit(ctx, &engine.SubmitParams{Type: "flaky", Input: loom.Values{"key": fmt.Sprint("stats-", i%2)}})
		if err != nil {
			t.Fatal(err)
		}
		v.waitStatus(t, tk.ID, []loom.Status{loom.StatusFailed, loom.StatusFailed, loom.StatusCompleted}[i])
	}
	_, body := v.get(t, "/types/flaky")
	// Keys stats-0 and stats-1 fail their first call: two of three fail.
	mustContain(t, body, `id="run-stats"`, "33.33%", "1 of the last 3 ended", "p50", "p95")
	if n := strings.Count(body, `<rect class="st-`); n != 3 {
		t.Errorf("%d bars, want 3", n)
	}
}
