// Package tail keeps the end of a container's or pod's output, which the
// docker and kubernetes runtimes put in their results and errors.
package tail

import (
	"bytes"
	"strings"
)

// Buffer keeps the last Max bytes written to it; it trims only once it
// holds twice that, so that most writes do not copy.
type Buffer struct {
	Max int
	buf bytes.Buffer
}

// Write appends p, dropping what is older than the last Max bytes.
func (t *Buffer) Write(p []byte) {
	t.buf.Write(p)
	if t.buf.Len() > 2*t.Max {
		b := t.buf.Bytes()[t.buf.Len()-t.Max:]
		keep := append([]byte(nil), b...)
		t.buf.Reset()
		t.buf.Write(keep)
	}
}

// String returns the kept bytes, starting at a whole UTF-8 character.
func (t *Buffer) String() string {
	b := t.buf.Bytes()
	if len(b) > t.Max {
		b = b[len(b)-t.Max:]
		for i := 0; i < 3 && len(b) > 0 && b[0]&0xC0 == 0x80; i++ {
			b = b[1:]
		}
	}
	return string(b)
}

// LastLines returns the last n lines of s, without a trailing newline.
func LastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	i := len(s)
	for range n {
		j := strings.LastIndexByte(s[:i], '\n')
		if j < 0 {
			return s
		}
		i = j
	}
	return s[i+1:]
}
