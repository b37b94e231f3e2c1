// Package sqlite is the embedded Store of the durable engine: all state in
// one local SQLite file, through the pure-Go modernc.org/sqlite driver (no
// cgo).
//
// # Concurrency
//
// SQLite lets one connection write at a time. A Store therefore keeps two
// connection pools on the same file: a writer pool of exactly one
// connection, through which every state change goes, and a reader pool of
// several connections (Config.MaxOpenConns) for queries. Writers queue in
// database/sql for the single connection instead of racing for the file
// lock, so a busy Store never sees SQLITE_BUSY storms, and readers never
// wait for writers because the database runs in WAL mode. Write
// transactions begin IMMEDIATE, so a transaction that reads before it
// writes never has to be retried. This is the fastest arrangement SQLite
// allows; throughput comes from batching (InsertTasks, ClaimTasks and
// FinishTasks change many tasks in one transaction with prepared
// statements).
//
// # Storage
//
// Times are stored as INTEGER unix nanoseconds and read back in UTC; JSON
// values (input, output, attributes, event data, runs) are stored as TEXT.
// The schema is a set of SQL migrations embedded in the binary and applied
// by goose when a Store opens, so opening an existing file upgrades it.
//
// # Events
//
// Every state change appends task events in the same transaction. Their
// types: "created" (InsertTasks), "started" (ClaimTasks), "completed",
// "failed" and "retrying" (FinishTasks), "cancelled" (CancelTask),
// "retried" (RetryTask), "expired" and "requeued" (ReapTasks),
// "key_released" (ReleaseTaskKey).
//
// # Queue counts
//
// The same transactions keep the number of tasks of each queue in each
// status in the queue_counts table, so that ListQueues reads a few rows
// instead of every task. A change to the tasks table that does not go
// through the Store (by hand, with the sqlite3 shell) leaves the counts
// wrong.
package sqlite
