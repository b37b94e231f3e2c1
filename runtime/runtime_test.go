package runtime_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/runtime"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestBuiltins(t *testing.T) {
	t.Parallel()
	b := runtime.Builtins()
	if len(b) != 2 || b["exec"] == nil || b["http"] == nil {
		t.Fatalf("Builtins() = %v, want exec and http", b)
	}
	out, err := b["exec"].Handle(t.Context(), loom.Values{"command": []string{"echo", "hello"}})
	if err != nil || out["stdout"] != "hello\n" {
		t.Fatalf("exec echo = %v, %v", out, err)
	}
	b["mine"] = loom.HandlerFunc(nil)
	if _, ok := runtime.Builtins()["mine"]; ok {
		t.Error("Builtins returned a shared map")
	}
}
