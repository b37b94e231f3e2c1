package ui_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
)

// TestBrowserFanOut opens a flow with a fan-out step: its node shows the
// items done of all beside a progress ring, and a click on it opens the
// step's items; the step's page shows each item's log in its own pane,
// stderr marked by a tag and a colour of its own, in both themes.
// Screenshots of both pages, light and dark, desktop and phone, with the
// phone overflow check.
func TestBrowserFanOut(t *testing.T) {
	v := setup(t)
	registerShout(t, v)
	b := browser(t)
	ctx := b.desk
	f, _, err := v.engine.Submit(context.Background(), &engine.SubmitParams{Type: "shout", Input: loom.Values{"words": []any{"alpha", "beta", "gamma"}}})
	if err != nil {
		t.Fatal(err)
	}
	v.waitStatus(t, f.ID, loom.StatusCompleted)

	navigate(t, ctx, v, "/tasks/"+f.ID, "#graph svg")
	waitFor(t, ctx, "the fan-out node to count its items with a ring",
		`document.querySelector('[data-node="s:each"] .g-count').textContent === "3/3" &&
		 document.querySelector('[data-node="s:each"] .g-ring').getAttribute("stroke-dasharray").split(" ")[0] ===
		 document.querySelector('[data-node="s:each"] .g-ring').getAttribute("stroke-dasharray").split(" ")[1] &&
		 document.querySelector('[data-node="s:each"] .g-ring').getBBox().width > 0`)
	shoot(t, b, "fanout-flow")

	// A click on the node opens the step's items.
	do(t, ctx, "mark the flow page", chromedp.Evaluate[chromedp.Void](`window.__leaving = "node"`))
	do(t, ctx, "click the fan-out node", chromedp.Click(chromedp.CSS(`[data-node="s:each"] rect`)))
	waitFor(t, ctx, "the step's items", `window.__leaving === undefined && document.readyState === "complete" &&
		location.search.includes("parent=") && ["each[0]", "each[1]", "each[2]"].every(function (s) { return document.body.textContent.includes(s) })`)

	steps, err := v.engine.Children(context.Background(), f.ID)
	if err != nil || len(steps) != 1 {
		t.Fatalf("steps %v, %v", steps, err)
	}
	navigate(t, ctx, v, "/tasks/"+steps[0].ID, "#item-logs")
	// stderr stands apart from stdout by a visible tag and by colour.
	const marked = `(function () {
		var pre = document.querySelector('#item-logs pre.log'), err = pre.querySelector('.ls-stderr'), tag = err && err.querySelector('.log-tag');
		return !!tag && tag.textContent === "stderr" && tag.getClientRects().length > 0 &&
			getComputedStyle(err).color !== getComputedStyle(pre).color &&
			getComputedStyle(tag).userSelect === "none" &&
			document.querySelectorAll('#item-logs pre.log').length === 3 &&
			pre.textContent.indexOf("ALPHA") === 0;
	})()`
	waitFor(t, ctx, "stderr marked in the light theme", marked)
	const toggle = `document.getElementById("theme-toggle").click()`
	do(t, ctx, "dark theme", chromedp.Evaluate[chromedp.Void](toggle))
	waitFor(t, ctx, "stderr marked in the dark theme", marked)
	do(t, ctx, "light theme", chromedp.Evaluate[chromedp.Void](toggle))
	shoot(t, b, "fanout-step")
}
