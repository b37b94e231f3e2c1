// loom's web UI: theme toggle, keyboard navigation, the flow graph
// (an SVG the server lays out), the overview chart (uPlot) and the live log pane.
// Everything else is server-rendered HTML that htmx swaps in.
(function () {
  "use strict";

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // Theme: follow the system until the user picks one.
  function effectiveTheme() {
    var t = document.documentElement.dataset.theme;
    if (t) return t;
    return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  document.addEventListener("click", function (e) {
    var b = e.target.closest("#theme-toggle");
    if (!b) return;
    var next = effectiveTheme() === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    try { localStorage.setItem("loom-theme", next); } catch (err) {}
    redrawAll();
  });

  // A request htmx sends that changes something carries the page's CSRF
  // token, as the UI's forms do in a hidden field.
  document.addEventListener("htmx:configRequest", function (e) {
    if (e.detail.verb === "get") return;
    var m = document.querySelector('meta[name="csrf-token"]');
    if (m) e.detail.headers["X-CSRF-Token"] = m.content;
  });

  // Forms that ask before they act.
  document.addEventListener("submit", function (e) {
    var f = e.target.closest("form[data-confirm]");
    if (f && !confirm(f.dataset.confirm)) e.preventDefault();
  });

  // Keyboard: "/" searches, j/k move through the rows of a list.
  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(document.activeElement)) return;
    if (e.key === "/") {
      var s = document.getElementById("f-q") || document.getElementById("global-search");
      if (s) { e.preventDefault(); s.focus(); s.select(); }
      return;
    }
    if (e.key !== "j" && e.key !== "k") return;
    var links = Array.prototype.slice.call(document.querySelectorAll("[data-list] [data-row] a.rowlink, [data-list] [data-row] a"))
      .filter(function (a, i, all) { return a.closest("[data-row]") && all.findIndex(function (b) { return b.closest("[data-row]") === a.closest("[data-row]"); }) === i; });
    if (!links.length) return;
    var i = links.indexOf(document.activeElement);
    i = e.key === "j" ? Math.min(i + 1, links.length - 1) : Math.max(i - 1, 0);
    links[i].focus();
    links[i].scrollIntoView({ block: "nearest" });
    e.preventDefault();
  });

  // Live refreshes replace lists wholesale: keep the keyboard focus on the
  // same link (or control) when the element it was on is swapped out.
  var refocus = null;
  document.addEventListener("htmx:beforeSwap", function (e) {
    var a = document.activeElement;
    refocus = null;
    if (!a || a === document.body || !e.detail.target || !e.detail.target.contains(a)) return;
    if (a.id) refocus = "#" + CSS.escape(a.id);
    else if (a.getAttribute("href")) refocus = 'a[href="' + CSS.escape(a.getAttribute("href")) + '"]';
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!refocus) return;
    var el = document.querySelector(refocus);
    refocus = null;
    if (el && document.activeElement !== el) el.focus({ preventScroll: true });
  });

  // The flow graph: an SVG the server lays out. Zoom with the buttons
  // (or ctrl + wheel), pan by dragging or scrolling its frame; a large
  // graph starts fitted to the page's width when that keeps it readable.
  // A live refresh redraws the graph: it keeps the reader's zoom and
  // scroll, per page.
  var graphView = { path: "", zoom: 0, left: 0, top: 0 };
  function zoomGraph(el, z) {
    var svg = el.querySelector("svg");
    if (!svg) return;
    z = Math.min(Math.max(z, 0.2), 3);
    el.dataset.zoom = String(z);
    graphView.path = location.pathname; graphView.zoom = z;
    svg.setAttribute("width", String(Math.round(Number(svg.dataset.w) * z)));
    svg.setAttribute("height", String(Math.round(Number(svg.dataset.h) * z)));
  }
  function fitZoom(el) {
    var svg = el.querySelector("svg"), wrap = el.parentNode;
    if (!svg || !wrap) return 1;
    var room = wrap.clientWidth - 2;
    return Math.min(1, room / Number(svg.dataset.w));
  }
  function initGraph(root) {
    var el = root.querySelector ? root.querySelector("#graph") : null;
    if (!el && root.id === "graph") el = root;
    if (!el || el.dataset.ready) return;
    el.dataset.ready = "1";
    // Fitted when that keeps labels at least half size; larger graphs
    // start at 100% and scroll.
    if (graphView.path === location.pathname && graphView.zoom) {
      zoomGraph(el, graphView.zoom);
      el.scrollLeft = graphView.left; el.scrollTop = graphView.top;
    } else {
      var z = fitZoom(el);
      zoomGraph(el, z >= 0.5 ? z : 1);
    }
    el.addEventListener("scroll", function () { graphView.left = el.scrollLeft; graphView.top = el.scrollTop; });
    var tools = el.parentNode.querySelector(".graph-tools");
    if (tools) tools.addEventListener("click", function (e) {
      var b = e.target.closest("button[data-zoom]");
      if (!b) return;
      var cur = Number(el.dataset.zoom || 1), how = b.dataset.zoom;
      zoomGraph(el, how === "in" ? cur * 1.25 : how === "out" ? cur / 1.25 : how === "fit" ? fitZoom(el) : 1);
    });
    el.addEventListener("wheel", function (e) {
      if (!e.ctrlKey) return;
      e.preventDefault();
      zoomGraph(el, Number(el.dataset.zoom || 1) * (e.deltaY < 0 ? 1.1 : 1 / 1.1));
    }, { passive: false });
    var drag = null;
    el.addEventListener("pointerdown", function (e) {
      if (e.button !== 0 || e.target.closest("a")) return;
      drag = { x: e.clientX, y: e.clientY, l: el.scrollLeft, t: el.scrollTop };
      el.classList.add("panning");
    });
    window.addEventListener("pointermove", function (e) {
      if (!drag) return;
      el.scrollLeft = drag.l - (e.clientX - drag.x);
      el.scrollTop = drag.t - (e.clientY - drag.y);
    });
    window.addEventListener("pointerup", function () { drag = null; el.classList.remove("panning"); });
  }

  // The overview chart.
  var charts = [];
  function total(xs) {
    var n = 0;
    (xs || []).forEach(function (x) { n += x || 0; });
    return n;
  }
  function initChart(root) {
    var el = root.querySelector ? root.querySelector("#chart") : null;
    if (!el || el.dataset.ready || typeof uPlot === "undefined") return;
    var src = document.getElementById("chart-data");
    if (!src) return;
    var d = JSON.parse(src.textContent);
    el.dataset.ready = "1";
    var opts = {
      width: Math.max(el.clientWidth, 280), height: 220,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [
        { stroke: css("--muted"), grid: { stroke: css("--grid") }, ticks: { stroke: css("--grid") } },
        { stroke: css("--muted"), grid: { stroke: css("--grid") }, ticks: { stroke: css("--grid") } }
      ],
      // The legend names each line with its total over the chart, rather
      // than placeholders waiting for the cursor.
      legend: { live: false },
      series: [
        {},
        { label: "created " + total(d.created), stroke: css("--accent"), width: 1.5, points: { show: false } },
        { label: "completed " + total(d.completed), stroke: css("--ok"), fill: css("--ok-fill"), width: 2, points: { show: false } },
        { label: "failed " + total(d.failed), stroke: css("--fail"), fill: css("--fail-fill"), width: 2, points: { show: false } },
        { label: "cancelled " + total(d.cancelled), stroke: css("--cancel"), width: 1, points: { show: false } }
      ]
    };
    var u = new uPlot(opts, [d.t || [], d.created || [], d.completed || [], d.failed || [], d.cancelled || []], el);
    charts.push({ u: u, el: el });
  }
  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.u.setSize({ width: Math.max(c.el.clientWidth, 280), height: 220 }); });
  });

  function redrawAll() {
    charts.forEach(function (c) {
      if (!document.body.contains(c.el)) return;
      c.u.destroy(); c.el.dataset.ready = "";
    });
    charts = [];
    initChart(document);
  }

  // An attempt's "Log" link shows that attempt's log in place: the
  // attempt goes in #log-attempt at once, before the refresh it triggers,
  // so that every refresh from then on (live ones too, which the task
  // detail runs one at a time, in order) keeps showing it.
  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("a[data-log-attempt]");
    if (!a || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    var input = document.getElementById("log-attempt"), live = document.getElementById("task-live");
    if (!input || !live || typeof htmx === "undefined") return;
    e.preventDefault();
    input.value = a.dataset.logAttempt;
    history.replaceState(history.state, "", a.href);
    htmx.trigger(live, "loom-refresh");
  });

  // The live log pane: append only chunks of the attempt it shows that it
  // does not have yet, and follow the end while the reader is there.
  document.addEventListener("htmx:sseBeforeMessage", function (e) {
    var pane = e.target;
    if (!pane.classList || !pane.classList.contains("log")) return;
    var m = /data-seq="(\d+)" data-attempt="(\d+)"/.exec(e.detail.data || "");
    if (!m || m[2] !== pane.dataset.attempt || Number(m[1]) <= Number(pane.dataset.lastSeq || 0)) {
      e.preventDefault();
      return;
    }
    pane.dataset.lastSeq = m[1];
    pane.dataset.follow = pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 8 ? "1" : "";
  });
  document.addEventListener("htmx:sseMessage", function (e) {
    var pane = e.target;
    if (pane.classList && pane.classList.contains("log") && pane.dataset.follow) pane.scrollTop = pane.scrollHeight;
  });

  function init(root) {
    initGraph(root);
    initChart(root);
    var log = root.querySelector && root.querySelector("pre.log");
    if (log) log.scrollTop = log.scrollHeight;
  }
  if (typeof htmx !== "undefined") htmx.onLoad(init);
  else document.addEventListener("DOMContentLoaded", function () { init(document); });
})();
