package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzSubmitBody checks that no body makes decoding panic, and that every
// body refused is refused as the client's fault.
func FuzzSubmitBody(f *testing.F) {
	for _, seed := range []string{
		`{"type":"echo"}`,
		`{"type":"echo","input":{"a":[1,2,{"b":null}]},"timeout":"30m","run_at":"2030-01-01T00:00:00Z"}`,
		`{"type":"echo"} x`,
		`{"type":`,
		`[]`,
		`null`,
		`{"unknown":1}`,
		`{"timeout":"2001-01-01T00:00:00Z","type":"x"}`,
	} {
		f.Add(seed)
	}
	s := &Server{cfg: Config{MaxBodyBytes: 4096}}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/tasks", strings.NewReader(body))
		var req submitRequest
		err := s.decodeBody(httptest.NewRecorder(), r, &req, false)
		if err == nil {
			_, err = req.params(time.Now())
		}
		if err == nil {
			return
		}
		status, code, ok := classify(err)
		if !ok || status >= 500 || code != CodeInvalid && code != CodeTooLarge {
			t.Fatalf("body %q: error %v answered %d %s", body, err, status, code)
		}
	})
}
