package loomtest

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/loomhq/loom"
)

// errPlanned is what FailsTimes fails with when given no error.
var errPlanned = errors.New("loomtest: planned failure")

// Returns is a handler that completes at once with out, whatever its
// inputs: a stand-in for a step whose work does not matter to the test.
// Each call gets its own copy of out.
func Returns(out loom.Values) loom.Handler {
	return loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
		return cloneOrNil(out), nil
	})
}

// FailsTimes is a handler that fails its first n calls with err, then
// completes with out: the flaky dependency of a retry test. With a retry
// policy of n+1 attempts the run completes on its last one; with fewer it
// fails with err. A nil err fails with a generic error. Wrap err with
// loom.Permanent or loom.RetryAfter to test those paths. It counts calls
// across every run it serves, so give each test its own.
func FailsTimes(n int, err error, out loom.Values) loom.Handler {
	if err == nil {
		err = errPlanned
	}
	var calls atomic.Int64
	return loom.HandlerFunc(func(context.Context, loom.Values) (loom.Values, error) {
		if calls.Add(1) <= int64(n) {
			return nil, err
		}
		return cloneOrNil(out), nil
	})
}

func cloneOrNil(v loom.Values) loom.Values {
	if v == nil {
		return nil
	}
	return v.Clone()
}
