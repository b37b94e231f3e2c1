package httprt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/internal/netguard"
	"github.com/loomhq/loom/runtime/httprt"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// now is the fixed time the handler under test sees, for Retry-After dates.
var now = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// setup starts a test server with routes that answer the way each test
// needs, and returns a handler using the server's client.
func setup(t *testing.T, cfg httprt.Config) (*httprt.Handler, string) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		io.WriteString(w, `{"ok": true, "items": [1, 2]}`)
	})
	mux.HandleFunc("/problem", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		io.WriteString(w, `{"title": "fine"}`)
	})
	mux.HandleFunc("/empty-json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/bad-json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"unterminated`)
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "plain text")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"method":       r.Method,
			"content_type": r.Header.Get("Content-Type"),
			"x_test":       r.Header.Get("X-Test"),
			"host":         r.Host,
			"body":         string(body),
		})
	})
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/text", http.StatusFound)
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		if ra := r.URL.Query().Get("retry_after"); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		code := 0
		for _, c := range r.PathValue("code") {
			code = code*10 + int(c-'0')
		}
		w.WriteHeader(code)
		io.WriteString(w, "status body")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 100))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg.Client = srv.Client()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return now }
	}
	return httprt.New(cfg), srv.URL
}

// attemptLog collects the attempt's log.
type attemptLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *attemptLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *attemptLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func run(ctx context.Context, h *httprt.Handler, in loom.Values) (loom.Values, string, error) {
	log := &attemptLog{}
	out, err := h.Handle(loom.ContextWithLogWriter(ctx, log), in)
	return out, log.String(), err
}

// jsonOf normalises v the way a round trip through storage would.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandleCompletes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       func(base string) loom.Values
		wantBody string // JSON of the output's body
		check    func(t *testing.T, out loom.Values)
	}{
		{
			name:     "JSON body decoded",
			in:       func(base string) loom.Values { return loom.Values{"url": base + "/json"} },
			wantBody: `{"items":[1,2],"ok":true}`,
			check: func(t *testing.T, out loom.Values) {
				headers := out["headers"].(map[string]any)
				if got := headers["X-Multi"]; got != "a, b" {
					t.Errorf("X-Multi = %q, want %q", got, "a, b")
				}
				if got := headers["Content-Type"]; got != "application/json; charset=utf-8" {
					t.Errorf("Content-Type = %q", got)
				}
			},
		},
		{
			name:     "+json content type decoded",
			in:       func(base string) loom.Values { return loom.Values{"url": base + "/problem"} },
			wantBody: `{"title":"fine"}`,
		},
		{
			name:     "empty JSON body is null",
			in:       func(base string) loom.Values { return loom.Values{"url": base + "/empty-json"} },
			wantBody: `null`,
			check: func(t *testing.T, out loom.Values) {
				if out["status"] != http.StatusNoContent {
					t.Errorf("status = %v, want 204", out["status"])
				}
			},
		},
		{
			name:     "text body kept as a string",
			in:       func(base string) loom.Values { return loom.Values{"url": base + "/text"} },
			wantBody: `"plain text"`,
		},
		{
			name:     "redirect followed",
			in:       func(base string) loom.Values { return loom.Values{"url": base + "/old"} },
			wantBody: `"plain text"`,
		},
		{
			name: "JSON body and headers sent",
			in: func(base string) loom.Values {
				return loom.Values{"method": "post", "url": base + "/echo", "headers": map[string]string{"X-Test": "yes", "Host": "example.test"}, "body": map[string]any{"a": 1}}
			},
			wantBody: `{"body":"{\"a\":1}","content_type":"application/json","host":"example.test","method":"POST","x_test":"yes"}`,
		},
		{
			name: "string body sent as text, content type kept",
			in: func(base string) loom.Values {
				return httprt.Input{Method: "PUT", URL: base + "/echo", Headers: map[string]string{"Content-Type": "text/csv"}, Body: json.RawMessage(`"a,b\n1,2"`)}.Values()
			},
			wantBody: `{"body":"a,b\n1,2","content_type":"text/csv","host":"` + "HOST" + `","method":"PUT","x_test":""}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, base := setup(t, httprt.Config{})
			out, log, err := run(t.Context(), h, tt.in(base))
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			want := strings.ReplaceAll(tt.wantBody, "HOST", strings.TrimPrefix(base, "http://"))
			if got := jsonOf(t, out["body"]); got != want {
				t.Errorf("body = %s, want %s", got, want)
			}
			if !strings.Contains(log, "http: ") || !strings.Contains(log, " OK (") && !strings.Contains(log, "No Content") {
				t.Errorf("log %q lacks the request and response lines", log)
			}
			if tt.check != nil {
				tt.check(t, out)
			}
		})
	}
}

func TestHandleFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cfg        httprt.Config
		in         func(base string) loom.Values
		permanent  bool
		retryAfter time.Duration // a RetryAfterHint asking this delay, when non-zero
		status     int           // a *StatusError with this status, when non-zero
		timeout    bool          // matches loom.ErrTimeout
		wantErr    string
	}{
		{name: "500 retryable", in: path("/status/500"), status: 500, wantErr: "500 Internal Server Error: status body"},
		{name: "503 with Retry-After seconds", in: path("/status/503?retry_after=7"), status: 503, retryAfter: 7 * time.Second},
		{name: "429 with Retry-After seconds", in: path("/status/429?retry_after=120"), status: 429, retryAfter: 2 * time.Minute},
		{name: "429 with Retry-After date", in: path("/status/429?retry_after=" + strings.ReplaceAll(now.Add(90*time.Second).Format(http.TimeFormat), " ", "%20")), status: 429, retryAfter: 90 * time.Second},
		{name: "429 without Retry-After", in: path("/status/429"), status: 429},
		{name: "404 permanent", in: path("/status/404"), status: 404, permanent: true, wantErr: "404 Not Found"},
		{name: "400 permanent", in: path("/status/400"), status: 400, permanent: true},
		{name: "timeout retryable", in: func(base string) loom.Values { return loom.Values{"url": base + "/slow", "timeout": 0.1} }, timeout: true, wantErr: "timed out after 0.1s"},
		{name: "JSON body that is not", in: path("/bad-json"), permanent: true, wantErr: "response says JSON but its body is not"},
		{name: "body too large", cfg: httprt.Config{MaxBody: 10}, in: path("/big"), permanent: true, wantErr: "larger than 10 bytes"},
		{name: "missing url", in: func(string) loom.Values { return loom.Values{"method": "GET"} }, permanent: true, wantErr: `input "url": required`},
		{name: "relative url", in: func(string) loom.Values { return loom.Values{"url": "/x"} }, permanent: true, wantErr: "not an absolute http or https URL"},
		{name: "bad scheme", in: func(string) loom.Values { return loom.Values{"url": "ftp://example.com/"} }, permanent: true, wantErr: "not an absolute http or https URL"},
		{name: "bad method", in: func(base string) loom.Values { return loom.Values{"url": base, "method": "FETCH"} }, permanent: true, wantErr: `unknown method "FETCH"`},
		{name: "unknown key", in: func(base string) loom.Values { return loom.Values{"url": base, "header": map[string]string{}} }, permanent: true, wantErr: `unknown key "header"`},
		{name: "headers not strings", in: func(base string) loom.Values { return loom.Values{"url": base, "headers": map[string]any{"A": 1}} }, permanent: true, wantErr: `input "headers": got a JSON number, want a string`},
		{name: "header injection", in: func(base string) loom.Values {
			return loom.Values{"url": base, "headers": map[string]string{"A": "b\r\nC: d"}}
		}, permanent: true, wantErr: `invalid header "A"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, base := setup(t, tt.cfg)
			out, _, err := run(t.Context(), h, tt.in(base))
			if err == nil {
				t.Fatalf("Handle = %v, want an error", out)
			}
			if got := loom.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tt.permanent)
			}
			var hint loom.RetryAfterHint
			gotHint := errors.As(err, &hint)
			switch {
			case tt.retryAfter != 0 && !gotHint:
				t.Errorf("error %v has no RetryAfterHint, want %s", err, tt.retryAfter)
			case tt.retryAfter != 0 && hint.RetryAfter() != tt.retryAfter:
				t.Errorf("RetryAfter = %s, want %s", hint.RetryAfter(), tt.retryAfter)
			case tt.retryAfter == 0 && gotHint:
				t.Errorf("error %v has an unexpected RetryAfterHint", err)
			}
			if tt.status != 0 {
				var se *httprt.StatusError
				if !errors.As(err, &se) || se.Status != tt.status {
					t.Errorf("error %v: want a *StatusError with status %d", err, tt.status)
				}
			}
			if got := errors.Is(err, loom.ErrTimeout); got != tt.timeout {
				t.Errorf("errors.Is(%v, ErrTimeout) = %v, want %v", err, got, tt.timeout)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func path(p string) func(base string) loom.Values {
	return func(base string) loom.Values { return loom.Values{"url": base + p} }
}

func TestNetworkErrorRetryable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, log, err := run(t.Context(), httprt.New(httprt.Config{}), loom.Values{"url": url})
	if err == nil {
		t.Fatal("want an error from a closed server")
	}
	if loom.IsPermanent(err) {
		t.Errorf("a network error must be retryable: %v", err)
	}
	if !strings.Contains(log, "failed after") {
		t.Errorf("log %q lacks the failure", log)
	}
}

func TestCancelled(t *testing.T) {
	t.Parallel()
	h, base := setup(t, httprt.Config{})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, _, err := run(ctx, h, loom.Values{"url": base + "/slow"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
}

func TestPasswordNotLogged(t *testing.T) {
	t.Parallel()
	h, base := setup(t, httprt.Config{})
	_, log, err := run(t.Context(), h, loom.Values{"url": strings.Replace(base, "http://", "http://user:secret@", 1) + "/text"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log, "secret") {
		t.Errorf("log %q shows the password", log)
	}
}

// TestGuardedClientRefusesLoopback: with the client a server passes, a
// request to a loopback service, by address or by name, fails permanently
// and names the option that allows it; the service is never reached.
func TestGuardedClientRefusesLoopback(t *testing.T) {
	t.Parallel()
	var reached atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	t.Cleanup(srv.Close)
	h := httprt.New(httprt.Config{Client: netguard.Client(false)})
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), "http://169.254.169.254/latest/meta-data/"} {
		_, _, err := run(t.Context(), h, loom.Values{"url": u})
		if !errors.Is(err, netguard.ErrRefused) || !loom.IsPermanent(err) || !strings.Contains(err.Error(), "--allow-private-net") {
			t.Errorf("GET %s: %v, want a permanent refusal naming --allow-private-net", u, err)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the loopback service was reached %d times", n)
	}
}
