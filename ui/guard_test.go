package ui_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/loomhq/loom/ui"
)

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	v := setup(t)
	for _, path := range []string{"/", "/tasks", "/static/app.js", "/tasks/no-such-task", "/nope"} {
		res, err := http.Get(v.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'self'", "object-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s (%d): Content-Security-Policy %q lacks %s", path, res.StatusCode, csp, want)
			}
		}
		for _, d := range strings.Split(csp, ";") {
			if f := strings.Fields(d); len(f) > 0 && (f[0] == "script-src" || f[0] == "default-src") && (strings.Contains(d, "unsafe-inline") || strings.Contains(d, "unsafe-eval")) {
				t.Errorf("GET %s: scripts may run inline: %s", path, d)
			}
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: X-Content-Type-Options %q, X-Frame-Options %q", path, res.Header.Get("X-Content-Type-Options"), res.Header.Get("X-Frame-Options"))
		}
	}
}

func TestHostRefused(t *testing.T) {
	t.Parallel()
	v := setup(t)
	h := ui.New(ui.Config{Engine: v.engine, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), AllowedHosts: []string{"localhost:7070", "loom.example.com"}})
	for host, want := range map[string]int{
		"localhost:7070":       200,
		"loom.example.com":     200,
		"loom.example.com:443": 200,
		"localhost:7071":       403,
		"evil.example":         403,
		"":                     403,
	} {
		req := httptest.NewRequest(http.MethodGet, "/tasks", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %q: %d, want %d", host, rec.Code, want)
		}
		if want == 403 && !strings.Contains(rec.Body.String(), "--allowed-host") {
			t.Errorf("Host %q: the page does not say how to allow a name", host)
		}
	}
	// Without AllowedHosts every Host is served.
	req := httptest.NewRequest(http.MethodGet, "/tasks", nil)
	req.Host = "evil.example"
	rec := httptest.NewRecorder()
	v.srv.Config.Handler.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("no AllowedHosts: %d", rec.Code)
	}
}

// TestCSRFTokenAfterRestart: a token from before a restart (another UI
// over the same engine) is refused, with a page that says to reload.
func TestCSRFTokenAfterRestart(t *testing.T) {
	t.Parallel()
	v := setup(t)
	c := browserClient(t)
	tok, err := v.pageToken(c)
	if err != nil {
		t.Fatal(err)
	}
	restarted := httptest.NewServer(ui.New(ui.Config{Engine: v.engine, Taskmaster: v.tm, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(restarted.Close)
	// The cookie jar sends the cookie to the same host on another port.
	res, err := c.PostForm(restarted.URL+"/submit", url.Values{ui.CSRFField: {tok}, "type": {"echo"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "reload it") {
		t.Errorf("a token of the UI before a restart: %d, want 403 asking to reload", res.StatusCode)
	}
}

// TestNoInlineScript keeps the templates within the pages' policy: no
// inline script (JSON data blocks are data), no handler attribute, and no
// htmx feature that evaluates strings (hx-on, hx-vars, js: values,
// trigger filters).
func TestNoInlineScript(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("templates/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("templates: %v, %v", files, err)
	}
	script := regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	forbidden := regexp.MustCompile(`(?i)\son[a-z]+\s*=|hx-on|hx-vars|\bjs:|javascript:|hx-trigger="[^"]*\[`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range script.FindAllStringSubmatch(string(b), -1) {
			if !strings.Contains(m[1], "src=") && !strings.Contains(m[1], `type="application/json"`) {
				t.Errorf("%s: inline script %.80q", f, m[0])
			}
			if strings.Contains(m[1], "src=") && strings.TrimSpace(m[2]) != "" {
				t.Errorf("%s: a script with both src and code %.80q", f, m[0])
			}
		}
		if loc := forbidden.FindIndex(b); loc != nil {
			t.Errorf("%s: %q needs inline script or eval", f, b[loc[0]:min(loc[1]+20, len(b))])
		}
	}
}
