package ui_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
)

// chromiumPath is where Debian's chromium package installs the browser.
const chromiumPath = "/usr/bin/chromium"

// screenshotDir is where the browser test writes screenshots of every
// page, at the repository root (git-ignored).
const screenshotDir = "../screenshots"

// browser starts headless Chromium for t. Without the browser the test
// fails in CI (CI is set) and is skipped elsewhere.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("browser tests need Chromium at %s (apt-get install chromium): %v", chromiumPath, err)
		}
		t.Skipf("no Chromium at %s; install it with apt-get install chromium", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1366, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx, desktop()); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

func desktop() chromedp.Action[chromedp.Void] { return chromedp.EmulateViewport(1366, 900) }

func phone() chromedp.Action[chromedp.Void] {
	return chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch,
		chromedp.EmulateOrientation(emulation.ScreenOrientationTypePortraitPrimary, 0))
}

// do runs actions, failing t with what was being done.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitFor polls a JavaScript predicate until it is true.
func waitFor(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main") ? document.querySelector("main").innerText.slice(0, 2000) : ""`))
		t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, js, err, html)
	}
}

// shoot writes screenshots of the current page at desktop and phone
// width, the page reloaded at each so it lays out for that screen.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		suffix string
		view   chromedp.Action[chromedp.Void]
	}{{"desktop", desktop()}, {"phone", phone()}} {
		do(t, ctx, "resize for "+name, v.view, chromedp.Reload(), chromedp.WaitReady("body"), chromedp.Sleep(400*time.Millisecond))
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		file := filepath.Join(screenshotDir, fmt.Sprintf("%s-%s.png", name, v.suffix))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do(t, ctx, "back to desktop", desktop(), chromedp.Reload(), chromedp.WaitReady("body"))
}

// markPage sets a flag on the page's window that a reload would clear, so
// a later check proves a change arrived live.
func markPage(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`window.__noReload = true`)); err != nil {
		t.Fatal(err)
	}
}

// clickAndLoad clicks what submits a form and waits until the page it
// leads to has loaded (the old page, marked, is gone).
func clickAndLoad(t *testing.T, ctx context.Context, what, sel string) {
	t.Helper()
	markPage(t, ctx)
	do(t, ctx, what, chromedp.Click(sel))
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__noReload === undefined && document.readyState === "complete"`))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the next page did not load: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const statusJS = `(document.querySelector("#task-status .badge") || {}).textContent`

func TestBrowser(t *testing.T) {
	v := setup(t, nil)
	ctx := browser(t)
	bg := context.Background()

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

	// Overview.
	do(t, ctx, "open overview", chromedp.Navigate(v.srv.URL+"/"), chromedp.WaitVisible("#chart .u-over"))
	shoot(t, ctx, "overview")

	// Submit a slow task from the form and watch its log stream in.
	do(t, ctx, "submit slow",
		chromedp.Navigate(v.srv.URL+"/submit"),
		chromedp.WaitVisible("#s-type"),
		chromedp.SetValue("#s-type", "slow"),
		chromedp.SetValue("#s-input", `{"ticks": 80}`),
	)
	clickAndLoad(t, ctx, "submit the form", "#s-submit")
	markPage(t, ctx)
	waitFor(t, ctx, "the log to stream while the task runs",
		`window.__noReload && `+statusJS+` === "running" && /tick [3-9] of 80/.test(document.querySelector("#log").textContent)`)
	shoot(t, ctx, "task-running")

	// Watch it complete live on the task list.
	do(t, ctx, "open task list", chromedp.Navigate(v.srv.URL+"/tasks"), chromedp.WaitVisible("#task-table"))
	markPage(t, ctx)
	waitFor(t, ctx, "the slow task to be listed running", `document.querySelector("#task-table tbody tr .badge").textContent === "running"`)
	waitFor(t, ctx, "the slow task to complete on the list, live",
		`window.__noReload && document.querySelector("#task-table tbody tr .badge").textContent === "completed"`)
	shoot(t, ctx, "tasks")

	// Submit a task that fails its first attempt; open its log; retry it.
	do(t, ctx, "submit flaky",
		chromedp.Navigate(v.srv.URL+"/submit?type=flaky"),
		chromedp.WaitVisible("#s-input"),
		chromedp.SetValue("#s-input", `{"key": "ui"}`),
	)
	clickAndLoad(t, ctx, "submit the form", "#s-submit")
	waitFor(t, ctx, "the task to fail", statusJS+` === "failed"`)
	do(t, ctx, "open the failed attempt's log",
		chromedp.Click(`button[hx-get$="log?attempt=1"]`),
		chromedp.WaitVisible(`#log-attempt`),
	)
	waitFor(t, ctx, "the failed attempt's log", `/not ready yet/.test(document.querySelector("#log").textContent)`)
	if txt, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".alert .msg-text").innerHTML`)); !strings.Contains(txt, "&lt;b&gt;") {
		t.Errorf("error message rendered as HTML: %q", txt)
	}
	shoot(t, ctx, "task-failed")
	clickAndLoad(t, ctx, "retry", "#btn-retry")
	markPage(t, ctx)
	waitFor(t, ctx, "the retried task to turn green", `window.__noReload && `+statusJS+` === "completed"`)
	waitFor(t, ctx, "the second attempt's log", `/done/.test(document.querySelector("#log").textContent)`)
	shoot(t, ctx, "task-retried")

	// Submit a flow whose transform step fails its first attempt: see the
	// failure and what it blocked, open the step's log, retry the flow
	// from it, and watch the flow turn green.
	do(t, ctx, "submit flow",
		chromedp.Navigate(v.srv.URL+"/submit?type=pipeline"),
		chromedp.WaitVisible("#s-input"),
		chromedp.SetValue("#s-input", `{"key": "flow"}`),
	)
	clickAndLoad(t, ctx, "submit the form", "#s-submit")
	markPage(t, ctx)
	waitFor(t, ctx, "the flow to fail, live", `window.__noReload && `+statusJS+` === "failed"`)
	waitFor(t, ctx, "the failed step and what it blocked",
		`document.querySelector('.g-row[data-step="transform"]').dataset.status === "failed" &&
		 document.querySelector('.g-row[data-step="load"]').dataset.status === "blocked" &&
		 document.querySelector('.g-row[data-step="extract"]').dataset.status === "completed" &&
		 document.querySelector("#graph canvas") !== null`)
	flowURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	shoot(t, ctx, "flow-failed")
	do(t, ctx, "open the failed step", chromedp.Click(`.g-row[data-step="transform"] a`), chromedp.WaitVisible("#log"))
	waitFor(t, ctx, "the failed step's log", `/not ready yet/.test(document.querySelector("#log").textContent)`)
	shoot(t, ctx, "step-failed")
	clickAndLoad(t, ctx, "retry the flow from the step", "#btn-retry")
	waitFor(t, ctx, "the step to turn green", statusJS+` === "completed"`)
	do(t, ctx, "back to the flow", chromedp.Navigate(flowURL), chromedp.WaitVisible("#task-status"))
	markPage(t, ctx)
	waitFor(t, ctx, "the flow to complete, live", `window.__noReload && `+statusJS+` === "completed" &&
		Array.from(document.querySelectorAll(".g-row")).every(function (r) { return r.dataset.status === "completed"; })`)
	shoot(t, ctx, "flow-completed")

	// The other pages.
	for _, p := range []struct{ path, name, ready string }{
		{"/tasks?status=failed&steps=1", "tasks-failed", "#task-table"},
		{"/queues", "queues", "main table"},
		{"/workers", "workers", ".worker"},
		{"/types", "types", "main table"},
		{"/types/flaky", "type", "main h1"},
		{"/types/pipeline", "type-flow", "#graph canvas"},
		{"/submit", "submit", "#submit-form"},
	} {
		do(t, ctx, "open "+p.path, chromedp.Navigate(v.srv.URL+p.path), chromedp.WaitVisible(p.ready))
		shoot(t, ctx, p.name)
	}

	// Keyboard: "/" focuses the search box.
	do(t, ctx, "press /", chromedp.Navigate(v.srv.URL+"/tasks"), chromedp.WaitVisible("#f-q"), chromedp.KeyEvent("/"))
	waitFor(t, ctx, "search to take focus", `document.activeElement && document.activeElement.id === "f-q"`)
}
