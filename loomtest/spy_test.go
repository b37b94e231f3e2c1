package loomtest_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/loomtest"
)

func TestSpy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	boom := errors.New("boom")
	inner := loom.HandlerFunc(func(_ context.Context, in loom.Values) (loom.Values, error) {
		if in["fail"] == true {
			return nil, boom
		}
		return loom.Values{"echo": in["x"]}, nil
	})
	spy := loomtest.Spy(inner)

	in := loom.Values{"x": 1}
	out, err := spy.Handle(ctx, in)
	if err != nil || !reflect.DeepEqual(out, loom.Values{"echo": 1}) {
		t.Errorf("Handle = %v, %v; want the wrapped handler's output", out, err)
	}
	in["x"] = 2 // must not change what was recorded
	if _, err := spy.Handle(ctx, loom.Values{"fail": true}); !errors.Is(err, boom) {
		t.Errorf("Handle err = %v, want the wrapped handler's error", err)
	}
	if _, err := spy.Handle(ctx, nil); err != nil {
		t.Error(err)
	}

	want := []loom.Values{{"x": 1}, {"fail": true}, nil}
	got := spy.Calls()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Calls = %v, want %v", got, want)
	}
	got[0]["x"] = 99
	if again := spy.Calls(); again[0]["x"] != 1 {
		t.Error("Calls returned the recorded maps themselves")
	}
	if n := spy.CallCount(); n != 3 {
		t.Errorf("CallCount = %d, want 3", n)
	}
}

func TestSpyNilHandler(t *testing.T) {
	t.Parallel()
	spy := loomtest.Spy(nil)
	out, err := spy.Handle(context.Background(), loom.Values{"a": "b"})
	if out != nil || err != nil {
		t.Errorf("Handle = %v, %v; want nil, nil", out, err)
	}
	if spy.CallCount() != 1 {
		t.Errorf("CallCount = %d, want 1", spy.CallCount())
	}
}

func TestSpyConcurrent(t *testing.T) {
	t.Parallel()
	spy := loomtest.Spy(loomtest.Returns(nil))
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = spy.Handle(context.Background(), loom.Values{"i": i})
			_ = spy.Calls()
		}()
	}
	wg.Wait()
	if n := spy.CallCount(); n != 16 {
		t.Errorf("CallCount = %d, want 16", n)
	}
}

func TestReturns(t *testing.T) {
	t.Parallel()
	h := loomtest.Returns(loom.Values{"id": "a"})
	out, err := h.Handle(context.Background(), loom.Values{"ignored": true})
	if err != nil || !reflect.DeepEqual(out, loom.Values{"id": "a"}) {
		t.Fatalf("Handle = %v, %v", out, err)
	}
	out["id"] = "changed"
	if again, _ := h.Handle(context.Background(), nil); again["id"] != "a" {
		t.Error("a caller changed the output of later calls")
	}
	if out, err := loomtest.Returns(nil).Handle(context.Background(), nil); out != nil || err != nil {
		t.Errorf("Returns(nil) = %v, %v; want nil, nil", out, err)
	}
}

func TestFailsTimes(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name     string
		n        int
		err      error
		calls    int
		wantErrs []bool // per call: whether it fails
	}{
		{"fails twice then succeeds", 2, boom, 4, []bool{true, true, false, false}},
		{"zero never fails", 0, boom, 2, []bool{false, false}},
		{"negative never fails", -1, boom, 1, []bool{false}},
		{"nil error still fails", 1, nil, 2, []bool{true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := loomtest.FailsTimes(tt.n, tt.err, loom.Values{"ok": true})
			for i := range tt.calls {
				out, err := h.Handle(context.Background(), nil)
				switch {
				case tt.wantErrs[i] && err == nil:
					t.Errorf("call %d succeeded, want failure", i+1)
				case tt.wantErrs[i] && tt.err != nil && !errors.Is(err, tt.err):
					t.Errorf("call %d err = %v, want %v", i+1, err, tt.err)
				case tt.wantErrs[i] && out != nil:
					t.Errorf("call %d output = %v alongside failure, want nil", i+1, out)
				case !tt.wantErrs[i] && (err != nil || out["ok"] != true):
					t.Errorf("call %d = %v, %v; want success", i+1, out, err)
				}
			}
		})
	}
}

func TestFailsTimesKeepsErrorKind(t *testing.T) {
	t.Parallel()
	h := loomtest.FailsTimes(1, loom.Permanent(errors.New("bad input")), nil)
	if _, err := h.Handle(context.Background(), nil); !loom.IsPermanent(err) {
		t.Errorf("err = %v, want a permanent error", err)
	}
}

func TestFailsTimesConcurrent(t *testing.T) {
	t.Parallel()
	h := loomtest.FailsTimes(5, nil, nil)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures int
	)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.Handle(context.Background(), nil); err != nil {
				mu.Lock()
				failures++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failures != 5 {
		t.Errorf("%d calls failed, want exactly 5", failures)
	}
}
