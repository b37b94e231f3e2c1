package bus

import (
	"errors"
	"fmt"
)

// Sentinel errors callers branch on with errors.Is. Backends return these
// (wrapped with context), never their client library's own errors.
var (
	// ErrClosed is returned by every call on a bus, consumer or delivery
	// after the bus (or, for Receive, the consumer) was closed.
	ErrClosed = errors.New("bus: closed")
	// ErrInvalidName is returned for a queue or group name that
	// ValidateQueue or ValidateGroup refuses.
	ErrInvalidName = errors.New("bus: invalid name")
	// ErrInvalidMessage is returned by Publish and PublishDone for a message
	// that ValidateReady or ValidateDone refuses.
	ErrInvalidMessage = errors.New("bus: invalid message")
	// ErrMalformed matches a *MalformedError: bytes on the bus that do not
	// decode into a Message.
	ErrMalformed = errors.New("bus: malformed message")
)

// MalformedError reports a message that could not be decoded, naming where
// it was found. Receive returns it for a line or entry it had to skip; the
// messages after it are still delivered, so call Receive again.
type MalformedError struct {
	// Source names where the message was read: a file path, "stdin", a
	// stream name.
	Source string
	// Line is the 1-based line number in Source, when Source has lines.
	Line int
	// Offset is the byte offset of the message in Source, -1 when unknown.
	Offset int64
	// Err is the decoding error.
	Err error
}

// Error names the source, line and offset, then the decoding error.
func (e *MalformedError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("bus: malformed message at %s:%d (offset %d): %v", e.Source, e.Line, e.Offset, e.Err)
	}
	return fmt.Sprintf("bus: malformed message in %s: %v", e.Source, e.Err)
}

// Unwrap returns the decoding error.
func (e *MalformedError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }
