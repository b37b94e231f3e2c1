package store

import "context"

// WorkListener is implemented by stores that announce new work across
// processes, so that a task submitted through one process starts on
// another's workers without waiting for a poll. It is optional: the engine
// detects it with a type assertion, and a store whose every writer is the
// engine's own process (SQLite) needs none.
type WorkListener interface {
	// ListenForWork calls wake whenever a task of one of queues (of any
	// queue when empty) may have become ready to claim: created pending,
	// retried, put back after a lapsed lease, woken by a signal. Wakes
	// may be spurious or coalesced; wake must not block. It returns when
	// ctx is done, with nil. It also wakes once when it starts to
	// listen and whenever it re-establishes a lost connection, since
	// announcements may have been missed meanwhile: work announced
	// before ListenForWork was called is not lost to a dispatcher that
	// looked for work before it was listening.
	ListenForWork(ctx context.Context, queues []string, wake func()) error
}
