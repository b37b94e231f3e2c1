package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzAPIBodies posts arbitrary bytes to every POST and PATCH operation
// of the served API, over a running engine and taskmaster: whatever the
// body, the answer is a 2xx or a 4xx with the API's JSON error, never a
// 5xx or a panic (which withRecover would answer 500).
func FuzzAPIBodies(f *testing.F) {
	e := setupTaskmaster(f)
	var ops []apiOperation
	for _, op := range servedOperations(f, e) {
		if op.method == http.MethodPost || op.method == http.MethodPatch {
			ops = append(ops, op)
		}
	}
	fx := makeFixtures(f, e)
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	for i, op := range ops {
		valid := validBody(op, i)
		for _, body := range []string{
			valid,
			valid[:len(valid)/2],
			`{"input":` + deep + `}`,
			`{"name":"\xff\xfe","type":"\xc3\x28"}`,
			`{"type":1,"name":[],"input":"x","task":{"max_attempts":"9"}}`,
			`{"max_attempts":9223372036854775807,"priority":-9223372036854775809,"rate":1e9,"limit":1e400}`,
			`null`, `[]`, `""`, `0`,
		} {
			f.Add(uint8(i), []byte(body))
		}
	}
	e.srv.Client().Timeout = 5 * time.Second
	f.Fuzz(func(t *testing.T, opIndex uint8, body []byte) {
		op := ops[int(opIndex)%len(ops)]
		path := "/api/v1" + fx.fill(op.path)
		status, header, answer := send(t, e, op.method, path, jsonHeader(), body)
		if err := checkAnswer(op.method, status, header, answer); err != nil {
			t.Fatalf("%s %s with body %q: %v", op.method, path, body, err)
		}
	})
}
