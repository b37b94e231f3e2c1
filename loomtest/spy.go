package loomtest

import (
	"context"
	"sync"

	"github.com/loomhq/loom"
)

// SpyHandler is a loom.Handler that records the inputs of every call before
// passing it on, so a test can assert what a step was given: the wiring of
// a flow's requires and provides, the items of a fan-out, the inputs of a
// retried attempt. Build one with Spy. It is safe for concurrent use.
type SpyHandler struct {
	h     loom.Handler
	mu    sync.Mutex
	calls []loom.Values
}

var _ loom.Handler = (*SpyHandler)(nil)

// Spy returns a SpyHandler that calls h. A nil h returns no output and no
// error.
func Spy(h loom.Handler) *SpyHandler { return &SpyHandler{h: h} }

// Handle records a copy of in, then returns what the wrapped handler does.
func (s *SpyHandler) Handle(ctx context.Context, in loom.Values) (loom.Values, error) {
	var rec loom.Values
	if in != nil {
		rec = in.Clone()
	}
	s.mu.Lock()
	s.calls = append(s.calls, rec)
	s.mu.Unlock()
	if s.h == nil {
		return nil, nil
	}
	return s.h.Handle(ctx, in)
}

// Calls returns the inputs of every call so far, in the order the calls
// began.
func (s *SpyHandler) Calls() []loom.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]loom.Values, len(s.calls))
	for i, c := range s.calls {
		if c != nil {
			out[i] = c.Clone()
		}
	}
	return out
}

// CallCount returns how many calls began.
func (s *SpyHandler) CallCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}
