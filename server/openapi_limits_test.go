package server

import (
	"encoding/json"
	"testing"

	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/schedule"
	"github.com/loomhq/loom/taskmaster"
)

// TestOpenAPILimits keeps the ranges the document states in step with the
// ones the code enforces.
func TestOpenAPILimits(t *testing.T) {
	t.Parallel()
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Minimum *int64 `json:"minimum"`
					Maximum *int64 `json:"maximum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		schema, field string
		min, max      int64
	}{
		{"SubmitRequest", "max_attempts", 0, engine.MaxAttemptsLimit},
		{"SubmitRequest", "priority", engine.MinPriority, engine.MaxPriority},
		{"TaskTemplate", "max_attempts", 0, engine.MaxAttemptsLimit},
		{"TaskTemplate", "priority", engine.MinPriority, engine.MaxPriority},
		{"CatchUp", "limit", 0, schedule.MaxCatchUpLimit},
		{"Notifier", "max_attempts", 0, taskmaster.MaxDeliveryAttempts},
	} {
		p, ok := doc.Components.Schemas[tt.schema].Properties[tt.field]
		if !ok || p.Minimum == nil || p.Maximum == nil || *p.Minimum != tt.min || *p.Maximum != tt.max {
			t.Errorf("%s.%s: documented range %v..%v, enforced %d..%d", tt.schema, tt.field, p.Minimum, p.Maximum, tt.min, tt.max)
		}
	}
}
