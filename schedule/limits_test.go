package schedule_test

import (
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom/schedule"
)

func TestValidateBounds(t *testing.T) {
	t.Parallel()
	base := schedule.Schedule{Name: "s", Cron: "@hourly"}
	tests := []struct {
		name  string
		edit  func(*schedule.Schedule)
		field string // "" when valid
	}{
		{"limits", func(s *schedule.Schedule) {
			s.CatchUp.Limit, s.Jitter, s.Grace = schedule.MaxCatchUpLimit, schedule.MaxJitter, schedule.MaxGrace
		}, ""},
		{"catch_up.limit over", func(s *schedule.Schedule) { s.CatchUp.Limit = schedule.MaxCatchUpLimit + 1 }, "catch_up.limit"},
		{"catch_up.limit negative", func(s *schedule.Schedule) { s.CatchUp.Limit = -1 }, "catch_up.limit"},
		{"jitter over", func(s *schedule.Schedule) { s.Jitter = schedule.MaxJitter + time.Second }, "jitter"},
		{"jitter max duration", func(s *schedule.Schedule) { s.Jitter = 1<<63 - 1 }, "jitter"},
		{"grace over", func(s *schedule.Schedule) { s.Grace = schedule.MaxGrace + time.Second }, "grace"},
		{"grace negative", func(s *schedule.Schedule) { s.Grace = -time.Second }, "grace"},
	}
	for _, tt := range tests {
		s := base
		tt.edit(&s)
		err := s.Validate()
		if tt.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.field+":") {
			t.Errorf("%s: %v, want an error naming %s", tt.name, err, tt.field)
		}
	}
}
