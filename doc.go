// Package loom runs tasks and workflows that survive failure: retries with
// backoff, circuit breakers, fan-out/fan-in, idempotency keys, timeouts,
// compensation, persisted state and events, in one process or, through the
// durable engine, on workers anywhere.
package loom
