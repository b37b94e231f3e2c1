// Package ui is loom's web UI: the central pane of glass over one engine.
// It shows every task, flow, queue, worker and task type, the logs of each
// attempt, a flow's DAG coloured by status with what a failure blocked, and
// lets an operator submit, cancel, retry and re-run tasks from a browser.
// Given the taskmaster (Config.Taskmaster), it also shows schedules with
// their next fire times and last runs (and pauses, resumes, triggers and
// deletes them), triggers, heartbeat checks, and alerts with the log of
// their notifications' deliveries.
//
// Pages are rendered on the server with html/template, which escapes every
// value a user typed; htmx swaps in fragments for filters and actions, and
// server-sent events (GET /live) push changes so that lists, details and
// running attempts' logs update without a reload. The few browser libraries
// it uses (htmx, its SSE extension, uPlot) are
// embedded with go:embed from static/vendor, so the UI fetches nothing from
// the internet and needs no build step. Flow graphs are laid out on the
// server and drawn as SVG.
//
// Every page is served with a Content-Security-Policy that runs only the
// UI's own script files (no inline script, handler attribute or eval) and
// forbids framing. Every form post must carry the CSRF token of the UI's
// pages (csrf.go) and come from the UI's own origin, or it is answered
// 403; a Host outside Config.AllowedHosts is refused too.
//
// Mount the handler New returns at the root of the API server's origin
// (server.Config.UI) or under a prefix given as Config.BasePath.
package ui
