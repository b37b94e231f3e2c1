package ui

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestParseInputRefusesDeepJSON(t *testing.T) {
	t.Parallel()
	deep := `{"a":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`
	_, err := parseInput(deep)
	var ue *userError
	if !errors.As(err, &ue) || ue.status != http.StatusBadRequest || !strings.Contains(ue.msg, "64") {
		t.Fatalf("65 levels: %v, want a 400 naming the limit", err)
	}
	ok := `{"a":` + strings.Repeat("[", 63) + strings.Repeat("]", 63) + `}`
	if _, err := parseInput(ok); err != nil {
		t.Fatalf("64 levels: %v", err)
	}
}
