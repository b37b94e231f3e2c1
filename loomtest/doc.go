// Package loomtest helps users test code built on loom: a FakeClock that
// makes retries, backoff, timeouts and circuit breakers run in milliseconds,
// and helpers to assert which steps of a flow ran with which inputs. Its
// subpackage executortest is the conformance suite every loom.Executor
// passes.
package loomtest
