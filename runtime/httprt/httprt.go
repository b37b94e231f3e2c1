// Package httprt is the http runtime: the built-in task type "http", which
// makes one HTTP request as a task. Its input:
//
//	{"method": "POST", "url": "https://api.example.com/items",
//	 "headers": {"Authorization": "Bearer ..."},
//	 "body": {"name": "x"}, "timeout": 10}
//
// A string body is sent as it is; any other JSON value is sent encoded, with
// Content-Type application/json unless the headers set one. The method
// defaults to GET. Redirects are followed by the client.
//
// The output is {"status": 200, "headers": {...}, "body": ...}: the body is
// the decoded JSON value when the response's Content-Type is JSON, the text
// otherwise; a header with several values has them joined with ", ".
//
// A 2xx response completes the task. 5xx, 429, network errors and timeouts
// fail the attempt with a retryable error that honours a Retry-After header
// (see loom.RetryAfter). Other 4xx responses, input that cannot make a
// request, and a 2xx body too large or not the JSON it claims to be fail
// with a loom.Permanent error: sending the same request again would not
// help. The attempt's log gets, on its system stream (loom.LogSystem), one
// line for the request and one for the response; headers and bodies are
// not logged, as they may hold secrets.
package httprt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/internal/netguard"
	"github.com/loomhq/loom/runtime/internal/strict"
	"github.com/loomhq/loom/telemetry"
	"go.opentelemetry.io/otel/propagation"
)

// TypeName is the task type every loom server registers this runtime under,
// so a task or flow step of type "http" makes a request on any worker.
const TypeName = "http"

// DefaultMaxBody is how much of a response body the handler reads: enough
// for an API's answer, small enough to store with every task.
const DefaultMaxBody = 1 << 20

// Config configures a Handler. Zero values mean the defaults stated on each
// field.
type Config struct {
	// Client sends the requests; its Timeout, if any, bounds each request
	// on top of the input's timeout. Default: a client of its own on
	// http.DefaultTransport, following up to 10 redirects. A loom server
	// passes one whose connections to loopback, link-local and private
	// addresses are refused (package internal/netguard); such a refusal
	// fails the task permanently.
	Client *http.Client
	// MaxBody is the largest response body, in bytes, a completing request
	// may return. Default DefaultMaxBody (1 MiB).
	MaxBody int64
	// Now tells the time, to turn a Retry-After date into a delay. Default
	// time.Now.
	Now func() time.Time
}

// withDefaults is the one place Config's defaults are filled in.
func (c Config) withDefaults() Config {
	if c.Client == nil {
		c.Client = &http.Client{}
	}
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Handler makes the request its input describes; see the package
// documentation for the input, the output and how failures are classified.
// It is safe for concurrent use.
type Handler struct {
	cfg Config
}

var _ loom.Handler = (*Handler)(nil)

// New returns a Handler configured by cfg.
func New(cfg Config) *Handler {
	return &Handler{cfg: cfg.withDefaults()}
}

// Input is the input of an http task, for Go code that builds one (see
// Values) and for validating one (see ParseInput).
type Input struct {
	// Method is the request method. Default GET.
	Method string `json:"method,omitempty"`
	// URL is the absolute http or https URL to request. Required.
	URL string `json:"url"`
	// Headers are set on the request, one value each.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the request body: a JSON string is sent as its text, any
	// other JSON value encoded as JSON. Default: none.
	Body json.RawMessage `json:"body,omitempty"`
	// Timeout bounds the request, in seconds, redirects and reading the
	// body included; zero means no bound beyond the task's own timeout.
	Timeout float64 `json:"timeout,omitempty"`
}

// methods are the methods a task may use: the ones net/http names.
var methods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace,
}

// ParseInput decodes and checks an http task's input. Unknown keys and
// wrong types are errors, so that a misspelt "header" fails loudly.
func ParseInput(v loom.Values) (Input, error) {
	var in Input
	if err := strict.Decode(v, &in); err != nil {
		return Input{}, err
	}
	return in, in.validate()
}

func (in *Input) validate() error {
	if in.Method == "" {
		in.Method = http.MethodGet
	}
	in.Method = strings.ToUpper(in.Method)
	if !slices.Contains(methods, in.Method) {
		return fmt.Errorf(`input "method": unknown method %q`, in.Method)
	}
	if in.URL == "" {
		return errors.New(`input "url": required`)
	}
	u, err := url.Parse(in.URL)
	if err != nil {
		return fmt.Errorf(`input "url": %w`, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf(`input "url": %q is not an absolute http or https URL`, in.URL)
	}
	for k, v := range in.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n\t\x00") || strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf(`input "headers": invalid header %q`, k)
		}
	}
	if in.Timeout < 0 || math.IsNaN(in.Timeout) || in.Timeout > math.MaxInt64/float64(time.Second) {
		return fmt.Errorf(`input "timeout": %v is not a number of seconds >= 0`, in.Timeout)
	}
	return nil
}

// Values returns in as the loom.Values a task of type http takes.
func (in Input) Values() loom.Values {
	raw, err := json.Marshal(in)
	if err != nil {
		panic(fmt.Sprintf("httprt: encoding Input: %v", err)) // only an invalid Body can fail
	}
	var v loom.Values
	if err := json.Unmarshal(raw, &v); err != nil {
		panic(fmt.Sprintf("httprt: decoding Input: %v", err))
	}
	return v
}

// StatusError is the error of a request answered with a status other than
// 2xx. It is permanent for 4xx other than 429, retryable otherwise.
type StatusError struct {
	// Method and URL are the request's (the URL with any password
	// redacted).
	Method, URL string
	// Status is the response's status code.
	Status int
	// Body is the start of the response body, for the error message.
	Body string
}

// Error names the request, the status and the start of the body, which is
// where servers put the reason.
func (e *StatusError) Error() string {
	msg := fmt.Sprintf("http %s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Handle makes the request described by v.
func (h *Handler) Handle(ctx context.Context, v loom.Values) (loom.Values, error) {
	in, err := ParseInput(v)
	if err != nil {
		return nil, loom.Permanent(fmt.Errorf("http: %w", err))
	}
	reqCtx := ctx
	if in.Timeout > 0 {
		var cancel context.CancelFunc
		reqCtx, cancel = context.WithTimeout(ctx, time.Duration(in.Timeout*float64(time.Second)))
		defer cancel()
	}
	req, err := newRequest(reqCtx, in)
	if err != nil {
		return nil, loom.Permanent(fmt.Errorf("http: %w", err))
	}
	target := req.URL.Redacted()
	log := loom.LogStream(ctx, loom.LogSystem)
	fmt.Fprintf(log, "http: %s %s\n", in.Method, target)

	start := time.Now()
	resp, err := h.cfg.Client.Do(req)
	if err != nil {
		err = h.requestError(ctx, reqCtx, in, target, err)
		fmt.Fprintf(log, "http: failed after %s: %v\n", time.Since(start).Round(time.Millisecond), err)
		return nil, err
	}
	defer resp.Body.Close()
	body, bodyErr := readBody(resp.Body, h.cfg.MaxBody)
	fmt.Fprintf(log, "http: %s (%d bytes, %s)\n", resp.Status, len(body), time.Since(start).Round(time.Millisecond))
	if bodyErr != nil && !errors.Is(bodyErr, errTooLarge) {
		return nil, h.requestError(ctx, reqCtx, in, target, fmt.Errorf("reading body: %w", bodyErr))
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, h.statusError(resp, in.Method, target, body)
	}
	if bodyErr != nil {
		return nil, loom.Permanent(fmt.Errorf("http %s %s: response body larger than %d bytes", in.Method, target, h.cfg.MaxBody))
	}
	out := loom.Values{"status": resp.StatusCode, "headers": flatten(resp.Header), "body": string(body)}
	if isJSON(resp.Header.Get("Content-Type")) {
		var decoded any
		if len(bytes.TrimSpace(body)) == 0 {
			out["body"] = nil
		} else if err := json.Unmarshal(body, &decoded); err != nil {
			return nil, loom.Permanent(fmt.Errorf("http %s %s: response says JSON but its body is not: %w", in.Method, target, err))
		} else {
			out["body"] = decoded
		}
	}
	return out, nil
}

// newRequest builds the request in describes.
func newRequest(ctx context.Context, in Input) (*http.Request, error) {
	var body io.Reader
	jsonBody := false
	if len(in.Body) > 0 && !bytes.Equal(in.Body, []byte("null")) {
		var s string
		if err := json.Unmarshal(in.Body, &s); err == nil {
			body = strings.NewReader(s)
		} else {
			body = bytes.NewReader(in.Body)
			jsonBody = true
		}
	}
	req, err := http.NewRequestWithContext(ctx, in.Method, in.URL, body)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	for k, v := range in.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if jsonBody && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if req.Header.Get(telemetry.TraceParentHeader) == "" {
		// The server sees the attempt's span as its caller's, so its own
		// spans join the task's trace.
		telemetry.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	return req, nil
}

// requestError classifies an error getting a response: the caller's
// cancellation is passed on as it is, the input's timeout and network
// errors are retryable.
func (h *Handler) requestError(ctx, reqCtx context.Context, in Input, target string, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("http %s %s: %w", in.Method, target, ctx.Err())
	case reqCtx.Err() != nil:
		return fmt.Errorf("http %s %s: timed out after %gs: %w", in.Method, target, in.Timeout, loom.ErrTimeout)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err // its text repeats the method and URL
	}
	if errors.Is(err, netguard.ErrRefused) {
		// The address stays refused however often the task retries.
		return loom.Permanent(fmt.Errorf("http %s %s: %w", in.Method, target, err))
	}
	return fmt.Errorf("http %s %s: %w", in.Method, target, err)
}

// statusError classifies a non-2xx response.
func (h *Handler) statusError(resp *http.Response, method, target string, body []byte) error {
	err := &StatusError{Method: method, URL: target, Status: resp.StatusCode, Body: snippet(resp.Header.Get("Content-Type"), body)}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), h.cfg.Now()); ok {
			return loom.RetryAfter(err, d)
		}
		return err
	case resp.StatusCode >= 400:
		return loom.Permanent(err)
	default: // 1xx, or a 3xx the client did not follow
		return loom.Permanent(err)
	}
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(math.MaxInt64/time.Second))) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

var errTooLarge = errors.New("body too large")

// readBody reads up to limit bytes of r, returning errTooLarge (and the
// first limit bytes) when there are more.
func readBody(r io.Reader, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return body, err
	}
	if int64(len(body)) > limit {
		return body[:limit], errTooLarge
	}
	return body, nil
}

// snippet is the start of a body for an error message.
func snippet(contentType string, body []byte) string {
	const n = 200
	s := string(body)
	if isHTML(contentType, body) {
		s = htmlText(s)
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "..."
	}
	return s
}

// isHTML reports whether a response body is an HTML page, by its
// Content-Type or, when that is missing, by how it starts.
func isHTML(contentType string, body []byte) bool {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil {
		return mt == "text/html" || mt == "application/xhtml+xml"
	}
	start := strings.ToLower(strings.TrimSpace(string(body[:min(len(body), 64)])))
	return strings.HasPrefix(start, "<!doctype html") || strings.HasPrefix(start, "<html")
}

// htmlText is what an error page says, for an error message: its title
// when it has one (servers put "404 Not Found" there), else its text with
// the markup, scripts and styles left out.
func htmlText(page string) string {
	lower := strings.ToLower(page)
	if i := strings.Index(lower, "<title"); i >= 0 {
		if j := strings.Index(lower[i:], ">"); j >= 0 {
			rest := page[i+j+1:]
			if k := strings.Index(strings.ToLower(rest), "</title"); k >= 0 && strings.TrimSpace(rest[:k]) != "" {
				return html.UnescapeString(rest[:k])
			}
		}
	}
	var b strings.Builder
	for len(page) > 0 {
		i := strings.IndexByte(page, '<')
		if i < 0 {
			b.WriteString(page)
			break
		}
		b.WriteString(page[:i])
		b.WriteByte(' ')
		page = page[i:]
		end := ">"
		for _, skip := range []string{"<script", "<style"} {
			if len(page) >= len(skip) && strings.EqualFold(page[:len(skip)], skip) {
				end = "</" + skip[1:] + ">"
			}
		}
		j := strings.Index(strings.ToLower(page), end)
		if j < 0 {
			break
		}
		page = page[j+len(end):]
	}
	return html.UnescapeString(b.String())
}

// isJSON reports whether a Content-Type is JSON: application/json or any
// type with a +json suffix.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// flatten turns headers into a JSON object of strings.
func flatten(h http.Header) map[string]any {
	out := make(map[string]any, len(h))
	for k, vs := range h {
		out[k] = strings.Join(vs, ", ")
	}
	return out
}
