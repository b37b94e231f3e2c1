// Package inproc holds the delivery machinery the in-process buses share: a
// consumer group's ready queue, its unacknowledged deliveries with their
// deadlines, redelivery, and blocking Receive. bus/memory is a Hub of such
// groups; bus/file feeds groups from files through a Source.
package inproc
