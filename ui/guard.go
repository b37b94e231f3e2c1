package ui

import (
	"net/http"

	"github.com/loomhq/loom/internal/webguard"
)

// contentSecurityPolicy allows the UI's pages only the UI's own scripts,
// styles and connections: no inline script, event handler attribute or
// eval (htmx runs with allowEval off), so that text an attacker got into
// a task (its input, info or error) cannot run even if a template slipped.
// Styles allow 'unsafe-inline': htmx
// copies style attributes while it settles a swap, and the timeline's
// bars are placed by style attributes; a style cannot run code. data:
// images are the blank favicon.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// guard sets the security headers of every answer and refuses a Host
// that is not one of Config.AllowedHosts (DNS rebinding); it reports
// whether to go on.
func (u *UI) guard(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	if !webguard.HostAllowed(u.cfg.AllowedHosts, r.Host) {
		u.renderError(w, r, http.StatusForbidden, "This server does not answer to the name "+r.Host+
			"; a name that reaches it through a proxy is allowed with loom server --allowed-host NAME.")
		return false
	}
	return true
}

// checkPost refuses a form post that another site made a browser send:
// one from another origin, or without the CSRF token of the UI's pages.
// It returns the message to show, or "".
func (u *UI) checkPost(r *http.Request) string {
	if !sameOrigin(r) {
		return "cross-origin form posts are refused"
	}
	if !u.validCSRF(r) {
		return "This form was not sent from a page of this UI, or the page is out of date: reload it and try again."
	}
	return ""
}
