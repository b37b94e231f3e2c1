package server_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/loomhq/loom/server"
)

// stormRequests is how many requests TestStorm sends.
const stormRequests = 10_000

// stormRequest is one request of the storm.
type stormRequest struct {
	method, path string
	header       http.Header
	body         []byte
	// chunked sends the body without a Content-Length.
	chunked bool
}

// oddParams are path parameters no fixture has: escapes, traversal,
// invalid UTF-8, control characters, a very long name.
var oddParams = []string{
	"%00", "..", "%2e%2e%2f%2e%2e", "%2F", "a%20b", "%ff%fe", "%E2%98%83", "%0d%0aX-Injected:%201",
	"%7B%7D", "*", "0", "-1", "9223372036854775808", strings.Repeat("n", 4096),
	"01JQ2Z3XK2ZQ4Q0A0A0A0A0A0A", "00000000-0000-0000-0000-000000000000",
}

// oddValues are JSON values of every wrong type and size.
var oddValues = []string{
	`null`, `true`, `[]`, `{}`, `""`, `"x"`, `0`, `-1`, `0.5`, `1e9`, `1e308`, `-1e308`, `1e400`,
	`9223372036854775807`, `-9223372036854775808`, `9223372036854775808`, `18446744073709551616`,
	`2147483648`, `-2147483649`, `"9999-12-31T00:00:00Z"`, `"0001-01-01T00:00:00Z"`, `"10000-01-01T00:00:00Z"`,
	`"2562047h"`, `"-5m"`, `"9999999999999h"`, `"\ud800"`, `"\u0000"`, `[1,"a",null,{}]`,
	`{"type":"echo","max_attempts":9223372036854775807,"priority":9223372036854775807,"timeout":"2562047h"}`,
	`{"mode":"run_all","limit":9223372036854775807}`,
}

// stormFields are the fields of the API's bodies, for odd values to land
// in.
var stormFields = []string{
	"type", "input", "queue", "info", "attributes", "priority", "max_attempts", "timeout", "run_at",
	"idempotency_key", "reason", "name", "data", "cron", "timezone", "task", "overlap", "catch_up", "jitter",
	"grace", "paused", "schedule", "from", "to", "rate", "id", "kind", "filter", "mapping", "on_type",
	"on_result", "secret", "period", "url", "format", "kinds", "types", "backlog_threshold",
}

// stormGen makes the storm's requests from a seeded generator, so that a
// failure can be reproduced.
type stormGen struct {
	rng  *rand.Rand
	ops  []apiOperation
	fx   fixtures
	n    int
	huge []byte // a body over the size limit
	// seen counts the requests made for each operation.
	seen map[apiOperation]int
}

func (g *stormGen) pick(list []string) string { return list[g.rng.IntN(len(list))] }

// next makes the storm's next request.
func (g *stormGen) next() stormRequest {
	g.n++
	op := g.ops[g.rng.IntN(len(g.ops))]
	g.seen[op]++
	r := stormRequest{method: op.method, header: jsonHeader()}
	if g.rng.IntN(10) == 0 {
		r.method = g.pick([]string{"PUT", "OPTIONS", "TRACE", "PROPFIND", "BREW", "HEAD", "DELETE", "PATCH", "POST", "GET"})
	}
	path := g.fx.fill(op.path)
	if strings.Contains(op.path, "{") && g.rng.IntN(5) == 0 {
		path = fillParam(op.path, g.pick(oddParams))
	}
	r.path = "/api/v1" + path
	if g.rng.IntN(10) == 0 {
		r.path += "?" + g.query()
	}
	r.body = g.body(op)
	if g.rng.IntN(20) == 0 {
		g.oddHeader(r.header)
	}
	r.chunked = g.rng.IntN(20) == 0
	return r
}

// query is a query string with huge, negative, overflowing and malformed
// values for the parameters the API reads.
func (g *stormGen) query() string {
	q := url.Values{}
	for _, name := range []string{"limit", "after", "attempt", "alert", "status", "type", "queue", "q", "cursor", "open", "parent_id"} {
		if g.rng.IntN(2) == 0 {
			continue
		}
		q.Set(name, g.pick([]string{
			"-1", "0", "1001", "9223372036854775808", strings.Repeat("9", 5000), "1e3", "0x10", "true",
			"running,failed,bogus", strings.Repeat("x", 16<<10), "\xff\xfe", "%", "a b",
		}))
	}
	if g.rng.IntN(4) == 0 {
		return q.Encode() + "&%zz=1;" // a malformed escape
	}
	return q.Encode()
}

// body is a body for op: valid, or broken one of many ways.
func (g *stormGen) body(op apiOperation) []byte {
	valid := validBody(op, g.n)
	if valid == "" {
		valid = `{"reason":"storm"}`
	}
	switch g.rng.IntN(12) {
	case 0, 1:
		return []byte(valid)
	case 2: // malformed: cut short, or a byte flipped
		b := []byte(valid)
		if g.rng.IntN(2) == 0 {
			return b[:g.rng.IntN(len(b))]
		}
		b[g.rng.IntN(len(b))] = byte(g.rng.IntN(256))
		return b
	case 3: // deeply nested, at and beyond the limit
		depth := g.pick([]string{"63", "65", "200", "10000"})
		var n int
		fmt.Sscan(depth, &n)
		open, closing := "[", "]"
		if g.rng.IntN(2) == 0 {
			open, closing = `{"a":`, "}"
		}
		return []byte(`{"type":"echo","name":"deep","input":{"a":` + strings.Repeat(open, n) + "1" + strings.Repeat(closing, n) + `}}`)
	case 4: // invalid UTF-8 in keys and values
		return []byte(strings.Replace(valid, `"`, "\"\xff\xfe\xc3\x28", 1+g.rng.IntN(4)))
	case 5, 6: // a field set to an odd value
		return []byte(withField(valid, g.pick(stormFields), g.pick(oddValues)))
	case 7: // oversized, now and then
		if g.rng.IntN(10) == 0 {
			return g.huge
		}
		return []byte(withField(valid, "input", `{"s":"`+strings.Repeat("a", 16<<10)+`"}`))
	case 8: // not an object at all
		return []byte(g.pick([]string{"", " ", "null", "[]", `"x"`, "1", "\x00\x01\x02", "{", "}", "{}{}", "{} x"}))
	case 9: // unknown fields
		return []byte(withField(valid, "unknown_"+g.pick(stormFields), "1"))
	case 10: // random bytes
		b := make([]byte, g.rng.IntN(256))
		for i := range b {
			b[i] = byte(g.rng.IntN(256))
		}
		return b
	default: // the catastrophic cases by name
		return []byte(g.pick([]string{
			`{"cron":"* * * * * *","task":{"type":"echo"},"from":"2024-01-01T00:00:00Z","to":"2024-01-01T00:10:00Z","rate":1000000000}`,
			`{"cron":"* * * * * *","task":{"type":"echo"},"from":"1970-01-01T00:00:00Z","to":"2261-12-31T00:00:00Z","rate":1000000000}`,
			`{"name":"re","kind":"event","filter":"data.s matches \"(a+)+$\"","task":{"type":"echo"}}`,
			`{"name":"re2","kind":"event","filter":"data.s matches \"[a-z]{1000}[a-z]{1000}[a-z]{1000}\"","task":{"type":"echo"}}`,
			`{"type":"storm","data":{"s":"` + strings.Repeat("ab", 4<<10) + `!"}}`,
			`{"type":"echo","max_attempts":9223372036854775807}`,
			`{"type":"echo","timeout":"9999-12-31T00:00:00Z","run_at":"9999-12-31T00:00:00Z"}`,
		}))
	}
}

// withField returns the JSON object body with field set to raw (added
// or replaced), or body itself if it is not an object.
func withField(body, field, raw string) string {
	if !strings.HasPrefix(body, "{") {
		return body
	}
	return `{"` + field + `":` + raw + "," + strings.TrimPrefix(body, "{")
}

// oddHeader sets headers a client should not send.
func (g *stormGen) oddHeader(h http.Header) {
	switch g.rng.IntN(8) {
	case 0:
		h.Set("Content-Type", g.pick([]string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=utf-16", "", "application/json;;;"}))
	case 1:
		h.Set(server.RequestIDHeader, strings.Repeat("r", 8192))
	case 2:
		h.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
		h.Set("Loom-Signature", "t=99999999999999999999,v1=zz")
	case 3:
		h.Set("Cookie", strings.Repeat("c=1; ", 2000))
	case 4:
		h.Set("Origin", "http://evil.example")
		h.Set("Sec-Fetch-Site", "cross-site")
	case 5:
		h.Set("Content-Encoding", "gzip")
	case 6:
		h.Set("Accept", "text/html, */*;q=0.0001, \xff")
	case 7:
		h.Set("X-Loom-Event", strings.Repeat("e", 4096))
		h.Set("X-Loom-Delivery", "../../"+strings.Repeat("d", 1024))
	}
}

// TestStorm sends 10,000 malformed, oversized, deeply nested, invalid
// UTF-8 and otherwise odd requests over every operation of the served
// OpenAPI document to a server with an engine and taskmaster running,
// and requires every answer to be a 2xx (the request happened to be
// valid) or a 4xx with the API's JSON error; never a 5xx or a panic.
// The heap after a GC stays within a bound, and the server stops and
// starts again on the same database.
//
// Not parallel: the heap it measures is the process's.
func TestStorm(t *testing.T) {
	running := goleak.IgnoreCurrent()
	dbPath := filepath.Join(t.TempDir(), "loom.db")
	e, stop := startTaskmaster(t, dbPath)
	ops := servedOperations(t, e)
	fx := makeFixtures(t, e)
	huge := bytes.Repeat([]byte(" "), server.DefaultMaxBodyBytes+1)
	copy(huge, `{"type":"echo","input":{"s":"`)

	gen := &stormGen{rng: rand.New(rand.NewPCG(1, 2)), ops: ops, fx: fx, huge: huge, seen: map[apiOperation]int{}}
	// As many idle connections as workers, or most requests would dial.
	transport := e.srv.Client().Transport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 8
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}
	var (
		mu       sync.Mutex
		failures []string
		statuses = map[int]int{}
	)
	storm := func(n int) {
		reqs := make(chan stormRequest)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for r := range reqs {
					status, err := stormSend(client, e.srv.URL, r)
					mu.Lock()
					statuses[status]++
					if err != nil && len(failures) < 20 {
						failures = append(failures, fmt.Sprintf("%s %.120s (body %.120q): %v", r.method, r.path, r.body, err))
					}
					mu.Unlock()
				}
			})
		}
		for range n {
			reqs <- gen.next()
		}
		close(reqs)
		wg.Wait()
	}
	// The heap is measured once the server has warmed up (pools, caches,
	// prepared statements), so that what grows after is what requests
	// leave behind.
	const warmUp = 500
	storm(warmUp)
	before := heapAfterGC()
	storm(stormRequests - warmUp)
	for _, f := range failures {
		t.Error(f)
	}
	after := heapAfterGC()
	t.Logf("statuses %v; heap after GC %.1f MiB before, %.1f MiB after", statuses, mib(before), mib(after))
	if after > before+64<<20 {
		t.Errorf("heap grew from %.1f MiB to %.1f MiB over the storm", mib(before), mib(after))
	}
	if len(gen.seen) != len(ops) {
		t.Errorf("the storm reached %d of %d operations", len(gen.seen), len(ops))
	}
	if statuses[http.StatusBadRequest] == 0 || statuses[http.StatusRequestEntityTooLarge] == 0 || statuses[http.StatusCreated] == 0 {
		t.Errorf("the storm did not reach both valid and invalid paths: %v", statuses)
	}

	// It stops cleanly, leaving no goroutine behind, and starts again on
	// the same database.
	transport.CloseIdleConnections()
	stop()
	goleak.VerifyNone(t, running)
	e, stop = startTaskmaster(t, dbPath)
	defer stop()
	status, _, body := send(t, e, "GET", "/api/v1/healthz", nil, nil)
	if status != http.StatusOK {
		t.Fatalf("healthz after restart: %d %s", status, body)
	}
	status, _, body = send(t, e, "GET", "/api/v1/tasks/"+fx.taskID, nil, nil)
	if status != http.StatusOK {
		t.Fatalf("fixture task after restart: %d %s", status, body)
	}
}

// stormSend sends r and checks its answer.
func stormSend(client *http.Client, base string, r stormRequest) (int, error) {
	var body io.Reader = bytes.NewReader(r.body)
	if r.chunked {
		body = io.MultiReader(bytes.NewReader(r.body)) // hides the length
	}
	req, err := http.NewRequest(r.method, base+r.path, body)
	if err != nil {
		return 0, fmt.Errorf("build the request: %w", err)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, fmt.Errorf("read the answer: %w", err)
	}
	return res.StatusCode, checkAnswer(r.method, res.StatusCode, res.Header, answer)
}

func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }
