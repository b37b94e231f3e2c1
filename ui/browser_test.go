package ui_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
)

// chromiumPath is where Debian's chromium package installs the browser.
const chromiumPath = "/usr/bin/chromium"

// screenshotDir is where the browser test writes screenshots of every
// page, at the repository root (git-ignored). A failed step leaves its
// page there too, as FAILED-*.png and FAILED-*.html.
const screenshotDir = "../screenshots"

// stepTimeout bounds one step of the browser test. CI shares two cores
// with other builds, so it is generous; a stuck step still fails long
// before the test's own deadline, and says which step it was.
const stepTimeout = 45 * time.Second

// browserTimeout bounds the whole browser test.
const browserTimeout = 5 * time.Minute

// tabs are the browser test's two tabs: one at desktop width that the
// test drives, one at phone width that opens the same pages for
// screenshots.
type tabs struct {
	desk, phone context.Context
	console     *console
}

// console keeps the errors the pages reported: console messages, log
// entries and uncaught exceptions.
type console struct {
	mu     sync.Mutex
	errors []string
}

// listen is a chromedp listener; it only appends, as listeners must
// return fast.
func (c *console) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError {
			msg = ev.Entry.Text + " (" + ev.Entry.URL + ")"
		}
	case *cdpruntime.EventConsoleAPICalled:
		if ev.Type == cdpruntime.ConsoleAPICalledTypeError {
			for _, a := range ev.Args {
				msg += " " + string(a.Value) + a.Description
			}
		}
	case *cdpruntime.EventExceptionThrown:
		msg = ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			msg += " " + ev.ExceptionDetails.Exception.Description
		}
	}
	if msg != "" {
		c.mu.Lock()
		c.errors = append(c.errors, msg)
		c.mu.Unlock()
	}
}

// isCSP tells a report of a Content Security Policy violation.
func isCSP(msg string) bool {
	return strings.Contains(msg, "Content Security Policy") || strings.Contains(msg, "Content-Security-Policy")
}

// len is how many errors were reported so far.
func (c *console) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.errors)
}

// cspSince counts the violations reported after the first n errors, and
// forgets them.
func (c *console) cspSince(n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := 0
	for _, e := range c.errors[n:] {
		if isCSP(e) {
			k++
		}
	}
	c.errors = c.errors[:n]
	return k
}

// has reports whether an error containing sub was reported.
func (c *console) has(sub string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.errors {
		if strings.Contains(e, sub) {
			return true
		}
	}
	return false
}

// check fails t for every Content Security Policy violation the pages
// reported, and logs the other errors.
func (c *console) check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.errors {
		if isCSP(e) {
			t.Errorf("CSP violation: %s", e)
		} else {
			t.Logf("page error: %s", e)
		}
	}
}

// browser starts headless Chromium for t. Without the browser the test
// fails in CI (CI is set) and is skipped elsewhere.
func browser(t *testing.T) tabs {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the browser test needs Chromium at %s (apt-get install chromium; .ci/run installs it): %v", chromiumPath, err)
		}
		t.Skipf("no Chromium at %s; install it with apt-get install chromium", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1366, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	con := &console{}
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithListener(con.listen))
	ctx, cancelTimeout := context.WithTimeout(ctx, browserTimeout)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx, desktop()); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	pctx, cancelPhone := chromedp.NewContext(ctx, chromedp.WithListener(con.listen))
	t.Cleanup(cancelPhone)
	if err := chromedp.Do(pctx, phone()); err != nil {
		t.Fatalf("open a phone-sized tab: %v", err)
	}
	// Every page runs under the UI's Content-Security-Policy: a script,
	// handler or eval it blocks is a feature that does not work.
	t.Cleanup(func() { con.check(t) })
	return tabs{desk: ctx, phone: pctx, console: con}
}

func desktop() chromedp.Action[chromedp.Void] { return chromedp.EmulateViewport(1366, 900) }

func phone() chromedp.Action[chromedp.Void] {
	return chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch,
		chromedp.EmulateOrientation(emulation.ScreenOrientationTypePortraitPrimary, 0))
}

// failed saves the page as it is (screenshot and HTML) for a step that
// failed, and fails t.
func failed(t *testing.T, ctx context.Context, what string, err error) {
	t.Helper()
	name := "FAILED-" + strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(what), "-"), "-")
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var saved []string
	if err := os.MkdirAll(screenshotDir, 0o755); err == nil {
		if html, err := chromedp.Run(dctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err == nil {
			if os.WriteFile(filepath.Join(screenshotDir, name+".html"), []byte(html), 0o644) == nil {
				saved = append(saved, name+".html")
			}
		}
		if png, err := chromedp.Run(dctx, chromedp.FullScreenshot(100)); err == nil {
			if os.WriteFile(filepath.Join(screenshotDir, name+".png"), png, 0o644) == nil {
				saved = append(saved, name+".png")
			}
		}
	}
	text, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.querySelector("main") ? document.querySelector("main").innerText.slice(0, 1500) : document.title`))
	t.Fatalf("%s: %v\npage saved in screenshots/ as %s; its text:\n%s", what, err, strings.Join(saved, ", "), text)
}

// slow logs a step that took long, to show where the test's time goes.
func slow(t *testing.T, what string, start time.Time) {
	t.Helper()
	if d := time.Since(start); d > time.Second {
		t.Logf("slow step (%.1fs): %s", d.Seconds(), what)
	}
}

// do runs actions as one step, within stepTimeout.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	defer slow(t, what, time.Now())
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		failed(t, ctx, what, err)
	}
}

// waitFor waits, within stepTimeout, until the JavaScript expression is
// true on the page. A poll does not survive a navigation, so it starts
// again on the page the browser went to; an expression that throws (an
// element not there yet) counts as false.
func waitFor(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	defer slow(t, what, time.Now())
	if err := poll(ctx, js); err != nil {
		failed(t, ctx, "waiting for "+what, fmt.Errorf("%w\nwaited for: %s", err, js))
	}
}

func poll(ctx context.Context, js string) error {
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	pred := `(function () { try { return !!(` + js + `); } catch (e) { return false; } })()`
	var last error
	for {
		left := time.Until(deadlineOf(sctx))
		if left <= 0 {
			if last == nil {
				last = context.DeadlineExceeded
			}
			return fmt.Errorf("not true within %s (last: %v)", stepTimeout, last)
		}
		_, err := chromedp.Run(sctx, chromedp.Poll[chromedp.Void](pred,
			chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(left)))
		if err == nil {
			return nil
		}
		last = err
		if errors.Is(err, chromedp.ErrPollingTimeout) || sctx.Err() != nil {
			continue
		}
		// The page navigated under the poll: wait for the next one.
		select {
		case <-sctx.Done():
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// clickSeq numbers clicks, so a click retried after a lost reply is not
// made twice.
var clickSeq int

// click clicks the element sel matches once it is visible and enabled.
// It clicks from inside the page, in the same task that finds the
// element, so a live update swapping the element in between cannot make
// the click miss.
func click(t *testing.T, ctx context.Context, what, sel string) {
	t.Helper()
	clickSeq++
	n := strconv.Itoa(clickSeq)
	waitFor(t, ctx, what, `window.__clicked === `+n+` || (function () {
		var e = document.querySelector(`+strconv.Quote(sel)+`);
		if (!e || !e.getClientRects().length || e.disabled) return false;
		window.__clicked = `+n+`;
		e.click();
		return true;
	})()`)
}

// markPage sets a flag on the page's window that loading another page
// clears, so a later check proves a change arrived live, without a reload.
func markPage(t *testing.T, ctx context.Context) {
	t.Helper()
	do(t, ctx, "mark the page", chromedp.Evaluate[chromedp.Void](`window.__noReload = true`))
}

// live is a predicate that the page shown was not reloaded since markPage.
const live = `window.__noReload === true`

// clickAndLoad clicks what submits a form or follows a link, and waits
// until the page it leads to has loaded.
func clickAndLoad(t *testing.T, ctx context.Context, what, sel string) {
	t.Helper()
	clickSeq++
	n := strconv.Itoa(clickSeq)
	do(t, ctx, what+": mark the page", chromedp.Evaluate[chromedp.Void](`window.__leaving = `+n))
	// A page without the mark is the next one: do not click there.
	waitFor(t, ctx, what, `window.__leaving !== `+n+` || (function () {
		var e = document.querySelector(`+strconv.Quote(sel)+`);
		if (!e || !e.getClientRects().length || e.disabled) return false;
		window.__leaving = "clicked";
		e.click();
		return true;
	})()`)
	waitFor(t, ctx, what+": the next page", `window.__leaving === undefined && document.readyState === "complete"`)
}

// navigate opens path and waits until ready (a CSS selector) is visible.
func navigate(t *testing.T, ctx context.Context, v *env, path, ready string) {
	t.Helper()
	do(t, ctx, "open "+path, chromedp.Navigate(v.srv.URL+path), chromedp.WaitVisible(chromedp.CSS(ready)))
}

// drawn is true once the page has loaded, its fonts too, its graph and
// chart are drawn and no htmx request is in flight: what a screenshot
// should show.
const drawn = `document.readyState === "complete" && document.fonts.status === "loaded" &&
	(!document.querySelector("#graph") || !!document.querySelector("#graph svg")) &&
	(!document.querySelector("#chart") || !!document.querySelector("#chart .u-over")) &&
	!document.querySelector(".htmx-request")`

// shoot writes screenshots of the current page at desktop width, and of
// the same address opened in the phone tab, laid out for that screen.
func shoot(t *testing.T, b tabs, name string) {
	t.Helper()
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	save := func(ctx context.Context, suffix string) {
		waitFor(t, ctx, name+" drawn for "+suffix, drawn)
		sctx, cancel := context.WithTimeout(ctx, stepTimeout)
		defer cancel()
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		if err != nil {
			failed(t, ctx, "screenshot "+name+"-"+suffix, err)
		}
		if err := os.WriteFile(filepath.Join(screenshotDir, name+"-"+suffix+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Each picture in the light theme and, through the page's own toggle,
	// the dark one.
	both := func(ctx context.Context, suffix string) {
		save(ctx, suffix)
		const toggle = `document.getElementById("theme-toggle").click()`
		do(t, ctx, name+": dark theme", chromedp.Evaluate[chromedp.Void](toggle))
		save(ctx, suffix+"-dark")
		do(t, ctx, name+": light theme", chromedp.Evaluate[chromedp.Void](toggle))
	}
	both(b.desk, "desktop")
	loc, err := chromedp.Run(b.desk, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	do(t, b.phone, "open "+name+" on a phone", chromedp.Navigate(loc))
	waitFor(t, b.phone, name+" drawn for phone", drawn)
	// Nothing on a phone's page is wider than the screen: what does not
	// fit wraps or scrolls inside its own frame.
	wide, err := chromedp.Run(b.phone, chromedp.Evaluate[string](`(function () {
		var w = document.documentElement.clientWidth, out = [];
		if (document.documentElement.scrollWidth > w + 1) out.push("page " + document.documentElement.scrollWidth + "px");
		document.querySelectorAll("body *").forEach(function (el) {
			var r = el.getBoundingClientRect();
			if (r.width > 0 && r.right > w + 1 && !el.closest(".table-wrap, .graph, pre, .log")) {
				out.push((el.id ? "#" + el.id : el.tagName.toLowerCase() + "." + el.className) + " to " + Math.round(r.right) + "px");
			}
		});
		return out.slice(0, 5).join(", ");
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if wide != "" {
		t.Errorf("%s overflows a phone's %dpx width: %s", name, 390, wide)
	}
	both(b.phone, "phone")
}

const statusJS = `document.querySelector("#task-status .badge").textContent`

// logJS is the text of the log pane.
const logJS = `document.querySelector("#log").textContent`

func TestBrowser(t *testing.T) {
	v := setup(t)
	b := browser(t)
	ctx := b.desk
	bg := context.Background()
	start := time.Now()
	phase := func(name string) { t.Logf("%6.1fs %s", time.Since(start).Seconds(), name) }

	// Some history for the overview and lists.
	for i := range 6 {
		if _, _, err := v.engine.Submit(bg, &engine.SubmitParams{Type: "echo", Input: loom.Values{"n": i}}); err != nil {
			t.Fatal(err)
		}
	}
	old, _, err := v.engine.Submit(bg, &engine.SubmitParams{Type: "flaky", Input: loom.Values{"key": "seed"}, Info: "<b>not bold</b>"})
	if err != nil {
		t.Fatal(err)
	}
	v.waitStatus(t, old.ID, loom.StatusFailed)

	phase("overview")
	navigate(t, ctx, v, "/", "#chart .u-over")
	// The chart's legend says something before the cursor is on it.
	waitFor(t, ctx, "the chart's legend to name its totals", `/created \d+/.test(document.querySelector("#chart .u-legend").textContent) && !document.querySelector("#chart .u-legend").textContent.includes("--")`)
	shoot(t, b, "overview")

	phase("submit a slow task and watch its log stream in")
	navigate(t, ctx, v, "/submit", "#s-type")
	do(t, ctx, "fill in the form",
		chromedp.SetValue(chromedp.CSS("#s-type"), "slow"),
		chromedp.SetValue(chromedp.CSS("#s-input"), `{"ticks": 80}`),
	)
	clickAndLoad(t, ctx, "submit the slow task", "#s-submit")
	markPage(t, ctx)
	ticks, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(document.querySelector("#log") || {textContent: ""}).textContent.split("tick ").length - 1`))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the log to stream while the task runs", live+` && `+statusJS+` === "running" &&
		`+logJS+`.split("tick ").length - 1 > `+strconv.Itoa(ticks+2))
	shoot(t, b, "task-running")

	phase("watch it complete on the task list")
	navigate(t, ctx, v, "/tasks", "#task-table")
	markPage(t, ctx)
	const firstRow = `document.querySelector("#task-table tbody tr .badge").textContent`
	waitFor(t, ctx, "the slow task to be listed running", firstRow+` === "running"`)
	waitFor(t, ctx, "the slow task to complete on the list, live", live+` && `+firstRow+` === "completed"`)
	shoot(t, b, "tasks")

	phase("a task that fails: its log, retry")
	navigate(t, ctx, v, "/submit?type=flaky", "#s-input")
	do(t, ctx, "fill in the form", chromedp.SetValue(chromedp.CSS("#s-input"), `{"key": "ui"}`))
	clickAndLoad(t, ctx, "submit the flaky task", "#s-submit")
	waitFor(t, ctx, "the task to fail", statusJS+` === "failed"`)
	markPage(t, ctx)
	click(t, ctx, "open the failed attempt's log", `a[data-log-attempt="1"]`)
	waitFor(t, ctx, "the failed attempt's log, in place", live+` && document.querySelector("#log-attempt").value === "1" &&
		document.querySelector('a[data-log-attempt="1"]').getAttribute("aria-current") === "true" &&
		document.querySelector("#log").dataset.attempt === "1" && /not ready yet/.test(`+logJS+`)`)
	if txt, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".alert .msg-text").innerHTML`)); !strings.Contains(txt, "&lt;b&gt;") {
		t.Errorf("error message rendered as HTML: %q", txt)
	}
	shoot(t, b, "task-failed")
	clickAndLoad(t, ctx, "retry", "#btn-retry")
	markPage(t, ctx)
	waitFor(t, ctx, "the retried task to turn green, live", live+` && `+statusJS+` === "completed"`)
	waitFor(t, ctx, "the second attempt's log", `document.querySelector("#log").dataset.attempt === "2" && /done/.test(`+logJS+`)`)
	waitFor(t, ctx, "both attempts listed", `document.querySelectorAll("table.attempts tbody tr").length === 2`)
	shoot(t, b, "task-retried")

	// A flow whose transform step fails its first attempt: see the
	// failure and what it blocked, open the step's log, retry the flow
	// from it, and watch the flow turn green.
	phase("a flow that fails: the failed step, what it blocked, retry from it")
	navigate(t, ctx, v, "/submit?type=pipeline", "#s-input")
	do(t, ctx, "fill in the form", chromedp.SetValue(chromedp.CSS("#s-input"), `{"key": "flow"}`))
	clickAndLoad(t, ctx, "submit the flow", "#s-submit")
	markPage(t, ctx)
	waitFor(t, ctx, "the flow to fail, live", live+` && `+statusJS+` === "failed"`)
	waitFor(t, ctx, "the failed step and what it blocked",
		`document.querySelector('.g-row[data-step="transform"]').dataset.status === "failed" &&
		 document.querySelector('.g-row[data-step="load"]').dataset.status === "blocked" &&
		 document.querySelector('.g-row[data-step="extract"]').dataset.status === "completed" &&
		 document.querySelector("#graph svg") !== null`)
	flowURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	shoot(t, b, "flow-failed")
	clickAndLoad(t, ctx, "open the failed step", `.g-row[data-step="transform"] a`)
	waitFor(t, ctx, "the failed step's log", statusJS+` === "failed" && /not ready yet/.test(`+logJS+`)`)
	shoot(t, b, "step-failed")
	clickAndLoad(t, ctx, "retry the flow from the step", "#btn-retry")
	waitFor(t, ctx, "the step to turn green", statusJS+` === "completed"`)
	navigate(t, ctx, v, strings.TrimPrefix(flowURL, v.srv.URL), "#task-status")
	markPage(t, ctx)
	waitFor(t, ctx, "the flow to complete, live", live+` && `+statusJS+` === "completed" &&
		Array.from(document.querySelectorAll(".g-row")).every(function (r) { return r.dataset.status === "completed"; })`)
	shoot(t, b, "flow-completed")

	phase("the other pages")
	for _, p := range []struct{ path, name, ready string }{
		{"/tasks?status=failed&steps=1", "tasks-failed", "#task-table"},
		{"/queues", "queues", "main table"},
		{"/workers", "workers", ".worker"},
		{"/types", "types", "main table"},
		{"/types/flaky", "type", "main h1"},
		{"/types/pipeline", "type-flow", "#graph svg"},
		{"/submit", "submit", "#submit-form"},
		{"/tasks/no-such-task", "not-found", "main h1"},
	} {
		navigate(t, ctx, v, p.path, p.ready)
		shoot(t, b, p.name)
	}

	phase("the taskmaster pages")
	v.seedTaskmasters(t)
	navigate(t, ctx, v, "/", "#card-alerts")
	waitFor(t, ctx, "the overview to count the open alert, late schedule and late check",
		`["#card-alerts", "#card-schedules", "#card-checks"].every(function (s) { return document.querySelector(s + " .num").textContent === "1"; })`)
	shoot(t, b, "overview-taskmasters")
	const nightly = `[data-schedule="nightly"]`
	navigate(t, ctx, v, "/schedules", nightly+" ol.fires")
	waitFor(t, ctx, "five next fire times, in Paris", `(function () {
		var ts = document.querySelectorAll('`+nightly+` ol.fires li time');
		return ts.length === 5 && Array.prototype.every.call(ts, function (e) { return / 02:30:00 CES?T$/.test(e.textContent); });
	})()`)
	waitFor(t, ctx, "the last run, completed, and the late schedule",
		`document.querySelector('`+nightly+` .last-run .badge').textContent === "completed" &&
		 document.querySelector('[data-schedule="every-minute"] .late-why') !== null`)
	shoot(t, b, "schedules")
	clickAndLoad(t, ctx, "pause nightly", nightly+" .btn-pause")
	waitFor(t, ctx, "nightly paused, without fire times", `document.querySelector('`+nightly+` .btn-resume') !== null &&
		document.querySelectorAll('`+nightly+` ol.fires li time').length === 0`)
	clickAndLoad(t, ctx, "resume nightly", nightly+" .btn-resume")
	waitFor(t, ctx, "nightly resumed, with five fire times", `document.querySelector('`+nightly+` .btn-pause') !== null &&
		document.querySelectorAll('`+nightly+` ol.fires li time').length === 5`)
	do(t, ctx, "press j", chromedp.KeyEvent("j"))
	waitFor(t, ctx, "j to focus the first schedule", `document.activeElement && document.activeElement.classList.contains("rowlink") &&
		document.activeElement.closest("[data-schedule]") !== null`)
	// A live refresh swaps the list out from under the focus, which stays.
	do(t, ctx, "refresh the list as a live update does", chromedp.Evaluate[chromedp.Void](`window.focusedBefore = document.activeElement.getAttribute("href");
		document.getElementById("schedules-live").dataset.old = "1";
		htmx.ajax("GET", "/schedules", {target: "#schedules-live", select: "#schedules-live", swap: "outerHTML"})`))
	waitFor(t, ctx, "the focus kept through the refresh", `document.getElementById("schedules-live").dataset.old === undefined &&
		document.activeElement && document.activeElement.getAttribute("href") === window.focusedBefore`)
	navigate(t, ctx, v, "/schedules/nightly", "#schedule-state")
	waitFor(t, ctx, "five fire times and the run on the detail", `document.querySelectorAll("ol.fires li time").length === 5 &&
		document.querySelectorAll("table.runs tbody tr").length === 1`)
	shoot(t, b, "schedule")
	clickAndLoad(t, ctx, "run nightly now", ".btn-trigger")
	waitFor(t, ctx, "the run to complete", statusJS+` === "completed"`)
	navigate(t, ctx, v, "/schedules/nightly", "table.runs")
	waitFor(t, ctx, "the manual run listed", `document.querySelectorAll("table.runs tbody tr").length === 2 && /run by hand/.test(document.querySelector("table.runs").textContent)`)

	navigate(t, ctx, v, "/checks", "table.checks")
	waitFor(t, ctx, "the checks' states", `["backup:new", "etl-heartbeat:up", "silent-cron:late"].every(function (p) {
		var kv = p.split(":"); return document.querySelector('[data-check="' + kv[0] + '"]').dataset.state === kv[1]; })`)
	shoot(t, b, "checks")
	navigate(t, ctx, v, "/triggers", "table.triggers")
	shoot(t, b, "triggers")
	navigate(t, ctx, v, "/alerts", ".alert-item")
	waitFor(t, ctx, "the alert's message as text and its delivery log", `document.querySelector(".alert-item .alert-msg").textContent.indexOf("<script>alert(1)</script>") >= 0 &&
		document.querySelectorAll("main script").length === 0 &&
		/HTTP 503/.test(document.querySelector("table.deliveries").textContent)`)
	shoot(t, b, "alerts")
	do(t, ctx, "switch to the dark theme", chromedp.Evaluate[chromedp.Void](`localStorage.setItem("loom-theme", "dark")`), chromedp.Reload())
	waitFor(t, ctx, "the dark theme", `document.documentElement.dataset.theme === "dark"`)
	shoot(t, b, "alerts-dark")
	navigate(t, ctx, v, "/schedules", nightly+" ol.fires")
	shoot(t, b, "schedules-dark")
	do(t, ctx, "back to the system theme", chromedp.Evaluate[chromedp.Void](`localStorage.removeItem("loom-theme")`))

	phase("an approval given from the page")
	if err := v.engine.Register(v.tm.WaitTask()); err != nil {
		t.Fatal(err)
	}
	approval, _, err := v.engine.Submit(context.Background(), &engine.SubmitParams{Type: "wait", Input: loom.Values{"signal": "approve", "timeout": "1h"}})
	if err != nil {
		t.Fatal(err)
	}
	navigate(t, ctx, v, "/tasks/"+approval.ID, "#task-live")
	waitFor(t, ctx, "the form that sends the signal", `document.querySelector("#btn-signal") !== null`)
	do(t, ctx, "type the approval's data", chromedp.SendKeys("#signal-data", `{"by": "ops"}`))
	shoot(t, b, "task-waiting")
	clickAndLoad(t, ctx, "send the signal", "#btn-signal")
	waitFor(t, ctx, "the approved task to complete", statusJS+` === "completed"`)

	phase("the policy blocks inline script, and the test sees it")
	n := b.console.len()
	do(t, ctx, "inject an inline script and handler", chromedp.Evaluate[chromedp.Void](`(function () {
		var s = document.createElement("script"); s.textContent = "window.__inline = 1"; document.head.appendChild(s);
		var d = document.createElement("div"); d.setAttribute("onclick", "window.__inline = 2"); document.body.appendChild(d); d.click(); d.remove();
	})()`))
	eventually(t, "two violations reported", func() bool { return b.console.len() >= n+2 })
	if got, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__inline === undefined`)); !got {
		t.Error("an inline script ran")
	}
	if k := b.console.cspSince(n); k != 2 {
		t.Errorf("%d CSP violations reported for an inline script and handler, want 2", k)
	}

	phase("keyboard")
	navigate(t, ctx, v, "/tasks", "#f-q")
	do(t, ctx, "press /", chromedp.KeyEvent("/"))
	waitFor(t, ctx, "search to take focus", `document.activeElement && document.activeElement.id === "f-q"`)
	phase("done")
}
