// Package nats is a task bus over NATS JetStream, for an engine and workers
// on different machines.
//
// A Bus keeps every queue of one bus in one stream (Config.Stream, default
// "LOOM"), a subject per queue: ready tasks of queue Q on
// <Subject>.ready.Q, done tasks on <Subject>.done (Config.Subject, default
// "loom"). One stream rather than one per queue because a queue name may
// hold dots, which stream names may not, and because one stream is one
// thing to create, limit, back up and delete. Two buses with different
// Stream and Subject share a server without seeing each other's tasks.
//
// A consumer group is a durable pull consumer filtered on its queue's
// subject, acknowledging explicitly, with the group's AckWait; the
// consumers of a group are pull subscribers of that one durable, so each
// message goes to one of them. The stream keeps messages by limits, not by
// work-queue retention (which allows one consumer per subject, where loom
// allows a group per listener) nor by interest (which drops what is
// published before the first group joins): instead, every
// Config.TrimInterval the bus removes from each subject the messages that
// every group of it has acknowledged. The first group of a subject reads
// it from the start, so nothing published before it joined is lost; a
// group that joins a subject others already read starts with the messages
// published after it joined.
//
// Publish sends a batch asynchronously and waits for every
// acknowledgement, retrying what failed (a server restarting, a connection
// being re-established) with the same Nats-Msg-Id until ctx is done, so
// that a retry never stores a message twice within the stream's duplicate
// window. The id is made fresh by each Publish call, not from the task's id
// and attempt: the engine may legitimately publish the same attempt again
// after handing it back, and de-duplication must not swallow that.
//
// Receive asks for what is available at once (a no-wait pull of up to max
// messages) and otherwise waits for one message with a pull that the
// consumer keeps open across Receive calls, so a message that arrives
// after the caller gave up is handed to the next Receive instead of
// waiting out an AckWait. InProgress sends +WPI, Nack with a delay -NAK
// with that delay, and Ack is a double acknowledgement that waits for the
// server's confirmation: Ack returning nil means the message will not come
// back, which is what the engine relies on when it acknowledges done
// messages only once the store holds them. Redelivered comes from the
// message's delivery count.
//
// The server tracks a pending message by its stream sequence, not by its
// delivery, so the bus itself keeps a delivery's deadline: InProgress and
// Nack on a delivery whose AckWait has run out (and which the server has
// therefore handed out again, or soon will) do nothing, as bus.Delivery
// promises, instead of acting on the newer delivery.
package nats
