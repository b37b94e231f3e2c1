package engine_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
)

func TestSubmitParamsValidate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		p     engine.SubmitParams
		field string // "" when valid
	}{
		{"defaults", engine.SubmitParams{}, ""},
		{"max_attempts at the limit", engine.SubmitParams{MaxAttempts: engine.MaxAttemptsLimit}, ""},
		{"max_attempts over", engine.SubmitParams{MaxAttempts: engine.MaxAttemptsLimit + 1}, "max_attempts"},
		{"max_attempts max int", engine.SubmitParams{MaxAttempts: math.MaxInt}, "max_attempts"},
		{"max_attempts negative", engine.SubmitParams{MaxAttempts: -1}, "max_attempts"},
		{"priority int32 bounds", engine.SubmitParams{Priority: math.MinInt32}, ""},
		{"priority over int32", engine.SubmitParams{Priority: math.MaxInt32 + 1}, "priority"},
		{"priority under int32", engine.SubmitParams{Priority: math.MinInt32 - 1}, "priority"},
		{"run_at in 2100", engine.SubmitParams{RunAt: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}, ""},
		{"run_at at MaxTime", engine.SubmitParams{RunAt: store.MaxTime}, ""},
		{"run_at in 9999", engine.SubmitParams{RunAt: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)}, "run_at"},
		{"run_at before 1970", engine.SubmitParams{RunAt: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)}, "run_at"},
		{"timeout a century", engine.SubmitParams{Timeout: 100 * 365 * 24 * time.Hour}, ""},
		{"timeout up to MaxTime", engine.SubmitParams{Timeout: store.MaxTime.Sub(now)}, ""},
		{"timeout past MaxTime", engine.SubmitParams{Timeout: store.MaxTime.Sub(now) + time.Hour}, "timeout"},
		{"timeout max duration", engine.SubmitParams{Timeout: math.MaxInt64}, "timeout"},
		{"timeout negative", engine.SubmitParams{Timeout: -time.Second}, "timeout"},
	}
	for _, tt := range tests {
		err := tt.p.Validate(now)
		if tt.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, engine.ErrInvalid) || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: %v, want ErrInvalid naming %s", tt.name, err, tt.field)
		}
	}
}
