package loom_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom"
)

// TestResolveRun reads a run's id and key the way every executor does.
func TestResolveRun(t *testing.T) {
	t.Parallel()
	h := loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) { return nil, nil })
	plain := loom.NewTask("plain", h)
	spec, err := loom.ResolveRun(plain, loom.Values{"a": 1})
	if err != nil || spec.RunID != "" || spec.IdempotencyKey != "" || spec.Idempotency.Window != 0 {
		t.Errorf("a plain run: %+v, %v; want no id and no key", spec, err)
	}
	spec, err = loom.ResolveRun(plain, nil, loom.WithRunID("r"), loom.WithIdempotencyKey("k"))
	if err != nil || spec.RunID != "r" || spec.IdempotencyKey != "k" || spec.Idempotency.Window != 24*time.Hour || spec.Idempotency.LockTTL != 15*time.Minute {
		t.Errorf("given id and key: %+v, %v", spec, err)
	}
	keyed := loom.NewTask("keyed", h)
	keyed.Idempotency = &loom.Idempotency{Window: time.Minute, OnFailure: loom.KeepOnFailure}
	spec, err = loom.ResolveRun(keyed, loom.Values{"a": 1})
	want, _ := loom.DeriveIdempotencyKey("keyed", loom.Values{"a": 1.0})
	if err != nil || spec.IdempotencyKey != want || spec.Idempotency.Window != time.Minute || spec.Idempotency.OnFailure != loom.KeepOnFailure {
		t.Errorf("derived key: %+v, %v; want key %s", spec, err, want)
	}
	keyed.Idempotency.Key = func(loom.Values) (string, error) { return "", errors.New("no order id") }
	if _, err := loom.ResolveRun(keyed, nil); err == nil || !strings.Contains(err.Error(), "no order id") {
		t.Errorf("a key that cannot be derived: %v", err)
	}
	if _, err := loom.ResolveRun(&loom.Task{Name: "x"}, nil); err == nil {
		t.Error("a task without a handler resolved")
	}
}
