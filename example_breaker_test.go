package loom_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/loomtest"
)

func ExampleCircuitBreaker() {
	clock := loomtest.NewFakeClock(time.Time{})
	breaker := loom.MustCircuitBreaker(loom.BreakerConfig{
		Name:             "payments",
		FailureThreshold: 3,
		Cooldown:         30 * time.Second,
		Clock:            clock,
		OnStateChange: func(name string, from, to loom.BreakerState) {
			fmt.Printf("%s: %s -> %s\n", name, from, to)
		},
	})
	charge := func(err error) {
		if refused := breaker.Allow(); refused != nil {
			fmt.Println("refused:", refused)
			return
		}
		breaker.Record(err)
	}

	outage := errors.New("503 service unavailable")
	for range 3 {
		charge(outage)
	}
	charge(nil) // fails fast, without calling the dependency

	clock.Advance(30 * time.Second)
	charge(nil) // the probe succeeds
	fmt.Println("state:", breaker.State())

	// Output:
	// payments: closed -> open
	// refused: circuit breaker "payments" open for another 30s
	// payments: open -> half_open
	// payments: half_open -> closed
	// state: closed
}
