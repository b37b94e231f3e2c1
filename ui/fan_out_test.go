package ui_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
)

// registerShout registers "shout": a flow whose one step fans out over
// its input "words", each item writing its word upper-cased to stdout,
// without a newline, and a warning to stderr.
func registerShout(t *testing.T, v *env) {
	t.Helper()
	item := &loom.Task{Name: "shout-word", Handler: loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		w := fmt.Sprint(in["word"])
		fmt.Fprint(loom.LogWriter(ctx), strings.ToUpper(w))
		fmt.Fprintf(loom.LogStream(ctx, loom.LogStderr), "warning: %s is loud\n", w)
		return loom.Values{"word": strings.ToUpper(w)}, nil
	})}
	f, err := loom.NewFlow("shout", loom.FlowDef{
		Inputs: []string{"words"},
		Steps: []loom.Step{{
			Name: "each", Task: item, FanOut: &loom.FanOut{Over: "words", As: "word", Parallelism: 2},
			Requires: map[string]string{"words": "words"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.engine.Register(f); err != nil {
		t.Fatal(err)
	}
}

// TestFanOutNodeAndItemLogs renders a flow with a fan-out step: its node
// counts the items done of all with a ring and links to the step's
// items; the step's page shows each item's log under its own heading, in
// item order, stderr marked with a tag.
func TestFanOutNodeAndItemLogs(t *testing.T) {
	t.Parallel()
	v := setup(t)
	registerShout(t, v)
	ctx := context.Background()
	f, _, err := v.engine.Submit(ctx, &engine.SubmitParams{Type: "shout", Input: loom.Values{"words": []any{"alpha", "beta", "gamma"}}})
	if err != nil {
		t.Fatal(err)
	}
	v.waitStatus(t, f.ID, loom.StatusCompleted)
	steps, err := v.engine.Children(ctx, f.ID)
	if err != nil || len(steps) != 1 {
		t.Fatalf("steps %v, %v", steps, err)
	}
	step := steps[0]

	code, body := v.get(t, "/tasks/"+f.ID)
	if code != http.StatusOK {
		t.Fatalf("GET flow: %d", code)
	}
	node := regexp.MustCompile(`(?s)<a class="g-node [^"]*" data-node="s:each" href="([^"]*)">(.*?)</a>`).FindStringSubmatch(body)
	if node == nil {
		t.Fatalf("no node of the fan-out step in\n%s", body)
	}
	if want := "/tasks?parent=" + step.ID + "&amp;steps=1"; node[1] != want {
		t.Errorf("the fan-out node links to %q, want its items %q", node[1], want)
	}
	mustContain(t, node[2], "each: 3 of 3 items done", `class="g-count"`, ">3/3</text>", `class="g-ring"`)
	mustContain(t, body, `>3/3 items</a>`)

	// The link opens the step's items, filtered.
	_, list := v.get(t, "/tasks?parent="+step.ID+"&steps=1")
	mustContain(t, list, "each[0]", "each[1]", "each[2]")

	_, page := v.get(t, "/tasks/"+step.ID)
	mustContain(t, page, `<h2 id="item-logs-h">Logs by item</h2>`,
		`<span class="ls ls-stderr"><span class="log-tag">stderr</span>warning: alpha is loud`+"\n</span>")
	i, j, k := strings.Index(page, `id="item-each[0]"`), strings.Index(page, `id="item-each[1]"`), strings.Index(page, `id="item-each[2]"`)
	if i < 0 || j < i || k < j {
		t.Errorf("item logs not in item order: %d %d %d", i, j, k)
	}
	// Each item's output is in its own pane, not run together.
	if strings.Contains(page, "ALPHABETA") || !strings.Contains(page, `aria-label="Log output of each[1]">BETA`) {
		t.Errorf("items' output not separated:\n%s", page[i:])
	}
}
