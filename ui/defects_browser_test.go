package ui_test

import (
	"context"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
)

// TestBrowserReadsRight checks in the browser what a first look at the UI
// found wrong: a flow's graph with an edge across a step, in a box much
// larger than the graph; a legend without cancelled; a time axis whose
// ends read the same; the Types page's 2147483647 attempts, "1 steps" and
// Submit on a step's type; JSON shown with HTML escapes; an emoji in an
// empty state.
func TestBrowserReadsRight(t *testing.T) {
	v := setup(t)
	b := browser(t)
	ctx := b.desk
	bg := context.Background()
	nop := loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) { return nil, nil })
	step := func(name string) *loom.Task { return &loom.Task{Name: "skip/" + name, Handler: nop} }
	// skip: extract -> transform -> load, and extract -> load past
	// transform, as etl's data flows.
	skip, err := loom.NewFlow("skip", loom.FlowDef{Steps: []loom.Step{
		{Name: "extract", Task: step("extract")},
		{Name: "transform", Task: step("transform"), DependsOn: []string{"extract"}},
		{Name: "load", Task: step("load"), DependsOn: []string{"extract", "transform"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range []*loom.Task{skip, v.tm.WaitTask()} {
		if err := v.engine.Register(tk); err != nil {
			t.Fatal(err)
		}
	}

	// Overview with nothing failed: the empty state is words alone.
	navigate(t, ctx, v, "/", "main")
	waitFor(t, ctx, "no emoji on the overview", `!/[\u{1F000}-\u{1FAFF}\u{2600}-\u{27BF}]/u.test(document.body.textContent)`)

	f, _, err := v.engine.Submit(bg, &engine.SubmitParams{Type: "skip"})
	if err != nil {
		t.Fatal(err)
	}
	v.waitStatus(t, f.ID, loom.StatusCompleted)
	navigate(t, ctx, v, "/tasks/"+f.ID, "#graph svg")
	// Every edge, sampled along its path, stays off every step but its
	// own two ends.
	waitFor(t, ctx, "edges clear of the steps", `(function () {
		var nodes = Array.from(document.querySelectorAll("#graph .g-node")).map(function (n) {
			var r = n.querySelector("rect");
			return {id: n.dataset.node, x: +r.getAttribute("x"), y: +r.getAttribute("y"), w: +r.getAttribute("width"), h: +r.getAttribute("height")};
		});
		var edges = document.querySelectorAll("#graph .g-edge");
		if (nodes.length !== 3 || edges.length !== 3) return false;
		return Array.from(edges).every(function (e) {
			var len = e.getTotalLength();
			for (var s = 0; s <= len; s += 2) {
				var p = e.getPointAtLength(s);
				var hit = nodes.some(function (n) {
					return n.id !== e.dataset.from && n.id !== e.dataset.to &&
						p.x > n.x + 1 && p.x < n.x + n.w - 1 && p.y > n.y + 1 && p.y < n.y + n.h - 1;
				});
				if (hit) return false;
			}
			return true;
		});
	})()`)
	// The graph's frame is as large as the graph, not a large empty box.
	waitFor(t, ctx, "the graph fitted to its content", `(function () {
		var frame = document.querySelector("#graph"), svg = frame.querySelector("svg");
		return frame.clientHeight <= svg.getBoundingClientRect().height + 40;
	})()`)
	waitFor(t, ctx, "every status in the legend, cancelled in a colour of its own", `(function () {
		var l = document.querySelector(".legend"), c = l.querySelector(".st-cancelled"), p = l.querySelector(".st-pending");
		return ["completed", "running", "pending", "failed", "cancelled", "blocked", "waiting", "not run", "skipped"].every(function (s) {
			return Array.from(l.querySelectorAll(".badge")).some(function (x) { return x.textContent === s && x.getClientRects().length > 0; });
		}) && getComputedStyle(c).backgroundColor !== getComputedStyle(p).backgroundColor;
	})()`)
	waitFor(t, ctx, "a time axis whose ticks all read differently", `(function () {
		var ticks = Array.from(document.querySelectorAll(".g-axis .g-tick")).map(function (x) { return x.textContent; });
		return ticks.length >= 2 && new Set(ticks).size === ticks.length;
	})()`)

	navigate(t, ctx, v, "/types", "main table")
	waitFor(t, ctx, "the Types page in plain words", `(function () {
		var row = function (name) { var a = document.querySelector('a[href="/types/' + name + '"]'); return a && a.closest("tr"); };
		var body = document.body.textContent, wait = row("wait"), st = row("skip%2Fextract"), flow = row("skip");
		return !!wait && !!st && !!flow && !body.includes("2147483647") && !/\b1 steps\b/.test(body) &&
			wait.textContent.includes("no limit") && flow.textContent.includes("3 steps") &&
			!st.querySelector('a[href*="/submit"]') && !!flow.querySelector('a[href*="/submit"]');
	})()`)

	// JSON as the user wrote it: no \u003e for > or \u0026 for &.
	task, _, err := v.engine.Submit(bg, &engine.SubmitParams{Type: "echo", Input: loom.Values{"cmd": "echo oops >&2 <x>"}})
	if err != nil {
		t.Fatal(err)
	}
	v.waitStatus(t, task.ID, loom.StatusCompleted)
	navigate(t, ctx, v, "/tasks/"+task.ID, "pre.json")
	waitFor(t, ctx, "input and output shown as written", `Array.from(document.querySelectorAll("pre.json")).filter(function (p) {
		return p.textContent.includes('"echo oops >&2 <x>"');
	}).length === 2 && !document.body.textContent.includes("\\u003e")`)
}
