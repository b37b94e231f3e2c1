package file

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/loomhq/loom/bus"
)

// encodeLines renders msgs as JSON lines, setting each message's Queue to
// queue unless queue is empty.
func encodeLines(msgs []bus.Message, queue string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the files are for people to read too
	for i := range msgs {
		m := msgs[i]
		if queue != "" {
			m.Queue = queue
		}
		if err := enc.Encode(&m); err != nil {
			return nil, fmt.Errorf("%w: task %q attempt %d: %v", bus.ErrInvalidMessage, m.ID, m.Attempt, err)
		}
	}
	return buf.Bytes(), nil
}

// validate checks msgs as ready messages, or done ones when done is set.
func validate(msgs []bus.Message, done bool) error {
	for i := range msgs {
		var err error
		if done {
			err = msgs[i].ValidateDone()
		} else {
			err = msgs[i].ValidateReady()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// decodeLine decodes one line, or reports it as malformed at source:line.
func decodeLine(line []byte, source string, lineNo int, offset int64) (bus.Message, error) {
	var m bus.Message
	if err := json.Unmarshal(line, &m); err != nil {
		return m, &bus.MalformedError{Source: source, Line: lineNo, Offset: offset, Err: err}
	}
	return m, nil
}
