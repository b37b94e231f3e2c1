package loom_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/loomhq/loom"
)

func ExampleRetryPolicy_Next() {
	policy := loom.ExponentialRetry(5, time.Second, 2, 5*time.Second)
	failure := errors.New("connection reset")

	for attempt := 1; ; attempt++ {
		delay, retry := policy.Next(attempt, failure)
		if !retry {
			fmt.Printf("attempt %d failed: giving up\n", attempt)
			break
		}
		fmt.Printf("attempt %d failed: retry in %s\n", attempt, delay)
	}

	// A server's Retry-After outranks both the backoff and its cap.
	delay, _ := policy.Next(1, loom.RetryAfter(failure, time.Minute))
	fmt.Println("throttled: retry in", delay)

	// Bad input will not get better by trying again.
	_, retry := policy.Next(1, loom.Permanent(errors.New("invalid card number")))
	fmt.Println("permanent error retried:", retry)

	// Output:
	// attempt 1 failed: retry in 1s
	// attempt 2 failed: retry in 2s
	// attempt 3 failed: retry in 4s
	// attempt 4 failed: retry in 5s
	// attempt 5 failed: giving up
	// throttled: retry in 1m0s
	// permanent error retried: false
}
