// loom's web UI: theme toggle, keyboard navigation, the flow graph
// (cytoscape + dagre), the overview chart (uPlot) and the live log pane.
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

  // The flow graph.
  var graphs = [];
  var dagreUsed = false;
  function statusColor(s) {
    var map = {
      completed: "--ok", failed: "--fail", running: "--run", pending: "--pend",
      cancelled: "--cancel", skipped: "--skip", blocked: "--blocked", waiting: "--wait",
      "not run": "--wait", definition: "--accent"
    };
    return css(map[s] || "--wait");
  }
  function initGraph(root) {
    var el = root.querySelector ? root.querySelector("#graph") : null;
    if (!el && root.id === "graph") el = root;
    if (!el || el.dataset.ready || typeof cytoscape === "undefined") return;
    var src = document.getElementById("graph-data");
    if (!src) return;
    var data = JSON.parse(src.textContent);
    if (!dagreUsed && typeof cytoscapeDagre !== "undefined") { cytoscape.use(cytoscapeDagre); dagreUsed = true; }
    el.dataset.ready = "1";
    var nodes = data.nodes || [], edges = data.edges || [];
    var narrow = el.clientWidth < 600;
    var cy = cytoscape({
      container: el,
      elements: nodes.concat(edges),
      wheelSensitivity: 0.3,
      maxZoom: 1.4,
      minZoom: 0.2,
      boxSelectionEnabled: false,
      autoungrabify: true,
      style: graphStyle(),
      layout: { name: dagreUsed ? "dagre" : "breadthfirst", rankDir: narrow ? "TB" : "LR", nodeSep: 14, rankSep: 36, padding: 12, directed: true }
    });
    cy.on("tap", "node", function (e) {
      var href = e.target.data("href");
      if (href && href.charAt(0) === "/") location.href = href;
    });
    cy.on("mouseover", "node", function (e) { if (e.target.data("href")) el.style.cursor = "pointer"; });
    cy.on("mouseout", "node", function () { el.style.cursor = ""; });
    graphs.push(cy);
  }
  function graphStyle() {
    return [
      { selector: "node", style: {
        "shape": "round-rectangle", "label": "data(label)", "text-valign": "center", "text-halign": "center",
        "font-size": 11, "font-family": css("--font") || "sans-serif", "color": css("--on-status"),
        "background-color": function (n) { return statusColor(n.data("status")); },
        "width": "label", "height": 24, "padding": "8px", "border-width": 0
      } },
      { selector: "node.blocked", style: { "border-width": 2, "border-style": "dashed", "border-color": css("--fail"), "color": css("--fg"), "background-color": css("--blocked") } },
      { selector: "node.st-failed", style: { "border-width": 3, "border-color": css("--fg") } },
      { selector: "edge", style: {
        "width": 1.5, "line-color": css("--border-strong"), "target-arrow-color": css("--border-strong"),
        "target-arrow-shape": "triangle", "curve-style": "bezier", "arrow-scale": 0.8
      } }
    ];
  }

  // The overview chart.
  var charts = [];
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
      series: [
        {},
        { label: "created", stroke: css("--accent"), width: 1.5, points: { show: false } },
        { label: "completed", stroke: css("--ok"), fill: css("--ok-fill"), width: 2, points: { show: false } },
        { label: "failed", stroke: css("--fail"), fill: css("--fail-fill"), width: 2, points: { show: false } },
        { label: "cancelled", stroke: css("--cancel"), width: 1, points: { show: false } }
      ]
    };
    var u = new uPlot(opts, [d.t || [], d.created || [], d.completed || [], d.failed || [], d.cancelled || []], el);
    charts.push({ u: u, el: el });
  }
  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.u.setSize({ width: Math.max(c.el.clientWidth, 280), height: 220 }); });
  });

  function redrawAll() {
    graphs.forEach(function (cy) { if (cy.container()) cy.style(graphStyle()); });
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
    graphs = graphs.filter(function (cy) { return document.body.contains(cy.container()); });
    initGraph(root);
    initChart(root);
    var log = root.querySelector && root.querySelector("pre.log");
    if (log) log.scrollTop = log.scrollHeight;
  }
  if (typeof htmx !== "undefined") htmx.onLoad(init);
  else document.addEventListener("DOMContentLoaded", function () { init(document); });
})();
