package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/server"
)

// TestBulkRoutes cancels a queue's pending tasks and retries a type's
// failed ones over the API, and refuses a filter it cannot act on.
func TestBulkRoutes(t *testing.T) {
	t.Parallel()
	e := setup(t, false, server.Config{})
	ctx := context.Background()
	for range 3 {
		if _, _, err := e.engine.Submit(ctx, &engine.SubmitParams{Type: "echo", Queue: "q1"}); err != nil {
			t.Fatal(err)
		}
	}
	var dry engine.BulkResult
	r := e.do(t, http.MethodPost, "/api/v1/tasks:cancel", `{"queue": "q1", "dry_run": true}`)
	if r.status != http.StatusOK {
		t.Fatalf("dry run: %d %s", r.status, r.body)
	}
	r.decode(t, &dry)
	if dry.Matched != 3 || dry.Acted != 0 {
		t.Fatalf("dry run: %+v", dry)
	}
	var res engine.BulkResult
	e.do(t, http.MethodPost, "/api/v1/tasks:cancel", `{"queue": "q1", "reason": "drained"}`).decode(t, &res)
	if res.Acted != 3 {
		t.Fatalf("cancel: %+v", res)
	}
	got, err := e.engine.Get(ctx, res.IDs[0])
	if err != nil || got.Status != loom.StatusCancelled || got.Msg != "drained" {
		t.Fatalf("a cancelled task: %+v, %v", got, err)
	}
	// The cancelled tasks can be retried in bulk too, when asked for.
	e.do(t, http.MethodPost, "/api/v1/tasks:retry", `{"status": ["cancelled"], "type": "echo"}`).decode(t, &res)
	if res.Acted != 3 {
		t.Fatalf("retry cancelled: %+v", res)
	}
	e.do(t, http.MethodPost, "/api/v1/tasks:retry", `{"status": ["running"]}`).wantError(t, http.StatusUnprocessableEntity, server.CodeInvalid)
	e.do(t, http.MethodPost, "/api/v1/tasks:cancel", `{"limit": 100000}`).wantError(t, http.StatusUnprocessableEntity, server.CodeInvalid)
	e.do(t, http.MethodPost, "/api/v1/tasks:cancel", `{"status": "pending"}`).wantError(t, http.StatusBadRequest, server.CodeInvalid)
}
