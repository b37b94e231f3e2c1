//go:build !unix

package loom_test

import "time"

// cpuTime cannot be read here: the benchmarks report wall time only.
func cpuTime() (time.Duration, bool) { return 0, false }
