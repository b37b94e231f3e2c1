package ui_test

import (
	"context"
	"net/http"
	"regexp"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
)

// TestCompareRuns shows a flow run beside the run before it, step by
// step, and says so when there is none.
func TestCompareRuns(t *testing.T) {
	t.Parallel()
	v := setup(t)
	ctx := context.Background()
	var ids []string
	for _, want := range []loom.Status{loom.StatusFailed, loom.StatusCompleted} {
		// The pipeline's transform fails its first call for a key.
		tk, _, err := v.engine.Submit(ctx, &engine.SubmitParams{Type: "pipeline", Input: loom.Values{"key": "compare"}})
		if err != nil {
			t.Fatal(err)
		}
		v.waitStatus(t, tk.ID, want)
		ids = append(ids, tk.ID)
	}
	code, body := v.get(t, "/tasks/"+ids[0]+"/compare")
	if code != http.StatusOK {
		t.Fatalf("compare the first run: %d", code)
	}
	mustContain(t, body, "there is none before it to compare with")
	code, body = v.get(t, "/tasks/"+ids[1]+"/compare")
	if code != http.StatusOK {
		t.Fatalf("compare: %d", code)
	}
	mustContain(t, body, `data-step="extract"`, `data-step="transform"`, `data-step="load"`)
	row := regexp.MustCompile(`(?s)data-step="transform".*?</tr>`).FindString(body)
	mustContain(t, row, "completed", "failed")
	_, body = v.get(t, "/tasks/"+ids[1])
	mustContain(t, body, `href="/tasks/`+ids[1]+`/compare"`)
}
