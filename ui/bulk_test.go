package ui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
)

// TestBulkRetryFromTheList offers "Retry all matching" on a list of failed
// tasks, confirms with their count, and retries them on the post.
func TestBulkRetryFromTheList(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	var ids []string
	for i := range 2 {
		tk, _, err := v.engine.Submit(ctx, &engine.SubmitParams{Type: "flaky", Input: loom.Values{"key": fmt.Sprint("bulk-", i)}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.ID)
	}
	for _, id := range ids {
		v.waitStatus(t, id, loom.StatusFailed)
	}
	_, body := v.get(t, "/tasks?status=failed&type=flaky")
	mustContain(t, body, `href="/tasks/bulk?action=retry&amp;status=failed&amp;type=flaky"`, "Retry all matching…")
	_, body = v.get(t, "/tasks?status=completed")
	if strings.Contains(body, "all matching") {
		t.Errorf("a list of completed tasks offers a bulk action")
	}
	code, body := v.get(t, "/tasks/bulk?action=retry&status=failed&type=flaky")
	if code != http.StatusOK {
		t.Fatalf("confirm: %d\n%s", code, body)
	}
	mustContain(t, body, "Retry 2 failed tasks?", `name="type" value="flaky"`, "Retry 2 tasks</button>")
	if code, _ := v.get(t, "/tasks/bulk?action=cancel&status=failed"); code != http.StatusBadRequest {
		t.Errorf("cancel of failed tasks: %d, want 400", code)
	}
	res, body := v.post(t, "/tasks/bulk", url.Values{"action": {"retry"}, "status": {"failed"}, "type": {"flaky"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "<h1>Tasks</h1>") {
		t.Fatalf("post: %d\n%s", res.StatusCode, body)
	}
	for _, id := range ids {
		v.waitStatus(t, id, loom.StatusCompleted)
	}
}
