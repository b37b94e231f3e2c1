// Package bus is the task bus: the transport that carries ready tasks from the
// engine to workers, one named queue per kind of worker, and done tasks back
// (seed 003's taskmaster -> bus -> worker -> bus).
//
// A Bus delivers at least once. A message may arrive twice (a consumer died
// before acknowledging it, its AckWait ran out, a file bus restarted from its
// last committed offset), so every message carries its task id and attempt
// and the engine's store settles each (id, attempt) exactly once. A bus is
// not the system of record either: a task written to the store but lost by
// the bus is published again by the engine, which is why bus/memory keeps
// nothing on disk.
//
// Within a queue, consumers that share a group compete: each message goes to
// one of them, and a message left unacknowledged past the consumer's AckWait,
// or refused with Nack, is delivered again, possibly to another consumer of
// the group. This is the model of NATS JetStream pull consumers and Redis
// Streams consumer groups, so backends over those implement Bus as directly
// as the in-process ones in bus/memory and bus/file.
//
// Every backend passes the conformance suite in bus/bustest.
package bus
