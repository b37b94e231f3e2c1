package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/client"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorded is one request the fake server saw.
type recorded struct {
	method, path, query, body, contentType string
}

// fake answers every request with status and body, recording it.
func fake(t *testing.T, status int, body string) (*client.Client, *recorded) {
	t.Helper()
	var rec recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec = recorded{r.Method, r.URL.Path, r.URL.RawQuery, string(b), r.Header.Get("Content-Type")}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-ID", "rid")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c := client.New(srv.URL + "/api/v1/")
	c.HTTPClient = srv.Client()
	return c, &rec
}

func TestSubmit(t *testing.T) {
	t.Parallel()
	c, rec := fake(t, 201, `{"id":"t1","type":"echo","status":"pending"}`)
	task, created, err := c.Submit(context.Background(), &client.SubmitRequest{Type: "echo", Input: loom.Values{"a": 1}, Timeout: "30m"})
	if err != nil || !created || task.ID != "t1" {
		t.Fatalf("Submit = %+v, %v, %v", task, created, err)
	}
	if rec.method != "POST" || rec.path != "/api/v1/tasks" {
		t.Errorf("request %+v", rec)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(rec.body), &body); err != nil || len(body) != 3 || body["timeout"] != "30m" {
		t.Errorf("body %s: only set fields should be sent", rec.body)
	}

	c, _ = fake(t, 200, `{"id":"t1"}`)
	if _, created, err := c.Submit(context.Background(), &client.SubmitRequest{Type: "echo", IdempotencyKey: "k"}); err != nil || created {
		t.Errorf("idempotent resubmit: created=%v err=%v", created, err)
	}
}

func TestListQuery(t *testing.T) {
	t.Parallel()
	c, rec := fake(t, 200, `{"tasks":[{"id":"a"}],"next":"c2"}`)
	page, err := c.List(context.Background(), client.ListParams{
		Status: []loom.Status{loom.StatusFailed, loom.StatusCancelled}, Type: "echo", Limit: 5, Cursor: "c1",
	})
	if err != nil || len(page.Tasks) != 1 || page.Next != "c2" {
		t.Fatalf("List = %+v, %v", page, err)
	}
	if want := "cursor=c1&limit=5&status=failed&status=cancelled&type=echo"; rec.query != want {
		t.Errorf("query %q, want %q", rec.query, want)
	}
}

func TestRetryAndCancelBodies(t *testing.T) {
	t.Parallel()
	c, rec := fake(t, 200, `{"id":"a"}`)
	if _, err := c.Retry(context.Background(), "a", loom.Values{"n": 2}); err != nil {
		t.Fatal(err)
	}
	if rec.path != "/api/v1/tasks/a/retry" || rec.body != `{"input":{"n":2}}` {
		t.Errorf("retry request %+v", rec)
	}
	if _, err := c.Retry(context.Background(), "a", nil); err != nil || rec.body != "" {
		t.Errorf("retry without input sent %q, %v", rec.body, err)
	}
	if _, err := c.Cancel(context.Background(), "a", ""); err != nil || rec.path != "/api/v1/tasks/a/cancel" || rec.body != "" {
		t.Errorf("cancel request %+v, %v", rec, err)
	}
	// The server takes writes only as JSON, bodiless ones too.
	if rec.contentType != "application/json" {
		t.Errorf("cancel without a body sent Content-Type %q, want application/json", rec.contentType)
	}
	if _, err := c.Get(context.Background(), "a"); err != nil || rec.contentType != "" {
		t.Errorf("get sent Content-Type %q, %v", rec.contentType, err)
	}
}

func TestErrorDecoding(t *testing.T) {
	t.Parallel()
	c, _ := fake(t, 404, `{"error":{"code":"not_found","message":"no task x"}}`)
	_, err := c.Get(context.Background(), "x")
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 404 || e.Code != "not_found" || e.Message != "no task x" || e.RequestID != "rid" {
		t.Fatalf("error %#v", err)
	}
	if !errors.Is(err, loom.ErrNotFound) || !client.IsCode(err, "not_found") {
		t.Errorf("%v should match loom.ErrNotFound and code not_found", err)
	}

	c, _ = fake(t, 502, `<html>bad gateway</html>`)
	_, err = c.Get(context.Background(), "x")
	if !errors.As(err, &e) || e.Code != "http_502" || e.Message != "<html>bad gateway</html>" {
		t.Errorf("non-API error %#v", err)
	}
	if errors.Is(err, loom.ErrNotFound) {
		t.Errorf("a 502 is not a not-found")
	}
}

// A nil request is refused before anything is sent, never a panic.
func TestNilRequest(t *testing.T) {
	t.Parallel()
	c, rec := fake(t, 400, `{"error":{"code":"invalid","message":"bad"}}`)
	ctx := context.Background()
	if _, _, err := c.Submit(ctx, nil); !errors.Is(err, client.ErrNoRequest) {
		t.Errorf("Submit(nil) err = %v", err)
	}
	if _, err := c.CreateSchedule(ctx, nil); !errors.Is(err, client.ErrNoRequest) {
		t.Errorf("CreateSchedule(nil) err = %v", err)
	}
	if _, err := c.Backfill(ctx, nil); !errors.Is(err, client.ErrNoRequest) {
		t.Errorf("Backfill(nil) err = %v", err)
	}
	if _, err := c.PutTrigger(ctx, nil); !errors.Is(err, client.ErrNoRequest) {
		t.Errorf("PutTrigger(nil) err = %v", err)
	}
	if _, err := c.PutNotifier(ctx, nil); !errors.Is(err, client.ErrNoRequest) {
		t.Errorf("PutNotifier(nil) err = %v", err)
	}
	if rec.method != "" {
		t.Errorf("a request was sent: %+v", *rec)
	}
}
