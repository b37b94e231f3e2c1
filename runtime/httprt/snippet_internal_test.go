package httprt

import (
	"strings"
	"testing"
)

// TestSnippetOfAnHTMLPage keeps an error page's markup out of the task's
// message: its title, or its text, on one line.
func TestSnippetOfAnHTMLPage(t *testing.T) {
	t.Parallel()
	page := "<!DOCTYPE html>\n<html><head><title>404 Not Found</title><style>body{x:y}</style></head>\n<body><h1>Not Found</h1></body></html>"
	for _, c := range []struct{ ct, body, want string }{
		{"text/html; charset=utf-8", page, "404 Not Found"},
		{"", page, "404 Not Found"},
		{"text/html", "<html><head><script>var a = 1 < 2;</script><style>p{}</style></head><body><p>No  such\n page &amp; more</p></body></html>", "No such page & more"},
		{"text/plain", "line one\n\n  line two  ", "line one line two"},
		{"application/json", `{"error": "nope"}`, `{"error": "nope"}`},
	} {
		if got := snippet(c.ct, []byte(c.body)); got != c.want {
			t.Errorf("snippet(%q, %q) = %q, want %q", c.ct, c.body, got, c.want)
		}
	}
	if got := snippet("text/plain", []byte(strings.Repeat("é", 300))); len(got) > 203 {
		t.Errorf("snippet of a long body is %d bytes", len(got))
	}
}
