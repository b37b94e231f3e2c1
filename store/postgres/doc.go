// Package postgres is the PostgreSQL implementation of store.Store (and of
// store.TaskmasterStore, store.TokenStore and store.StatsStore), for
// running loom on a database shared by several processes and machines.
//
// It keeps every table in one schema (Config.Schema, or the URL's
// search_path, or "public"), created when missing, so that tenants and
// tests can share a database. Migrations run when a Store opens, under a
// session advisory lock of that schema, so that servers starting together
// do not race.
//
// Concurrency comes from the database rather than from one writer: claims
// take their batch with FOR UPDATE SKIP LOCKED, so that dispatchers of
// different processes claim disjoint tasks without waiting for each
// other; finishes and lease extensions change a batch with one statement;
// inserts write a batch with one statement. A transaction-scoped advisory
// lock serialises what must see a consistent count (the claims of a queue
// with a concurrency cap, one idempotency key, one alert key).
//
// Each queue's task counts by status live in queue_counts, kept by
// statement triggers on tasks in the transaction of every write, whatever
// the method; the rows are sharded by server connection, so that writers
// of one queue do not queue up on one row. ListQueues sums them.
//
// Work announcements travel by LISTEN/NOTIFY: every transaction that makes
// a task pending notifies the schema's channel with the task's queue, and
// ListenForWork (store.WorkListener) wakes the engine of any process that
// serves that queue.
package postgres
