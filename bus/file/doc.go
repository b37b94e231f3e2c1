// Package file is a task bus over JSON lines: seed 003's local io bus, for
// development, tests and workers written in any language.
//
// Bus, made by New, keeps each queue in a file <Dir>/<queue>.jsonl, one
// bus.Message a line, appended by Publish; done messages go to
// <Dir>/done.jsonl. Consumers tail the files. Each consumer group commits, in
// <Dir>/.offsets/<group>.<queue>, the byte offset before which every line is
// acknowledged, so a restarted group resumes there: lines acknowledged after
// an earlier unacknowledged one are delivered again (at least once). Within
// the process, unacknowledged deliveries come back after their AckWait, as
// in bus/memory. Files are never truncated: delete a queue's file and its
// offsets together to start it over.
//
// Publish in the same process wakes waiting consumers at once. Lines
// appended by other processes are noticed by polling, which happens only
// while a Receive is waiting. Several processes may publish to one
// directory (each batch is one append), but a group's consumers must share
// one Bus: a Bus holds an exclusive lock (flock) on the offsets file of
// each group it consumes, and a second Bus, in this process or another,
// that consumes the same group fails with ErrGroupLocked rather than
// deliver every line a second time. The lock goes with the Bus's Close or
// its process's exit.
//
// Stream, made by NewStream, speaks the same JSON lines over an io.Reader
// and io.Writer, typically stdin and stdout: a worker in any language reads
// ready tasks on its stdin and writes done tasks to its stdout, and the
// engine on the other end uses a Stream on the worker's pipes. A Stream keeps
// nothing on disk; its acknowledgements and AckWait redelivery live in
// memory.
package file
