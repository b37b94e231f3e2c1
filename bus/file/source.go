package file

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/loomhq/loom/bus/internal/inproc"
)

// source feeds one consumer group from one JSON-lines file and commits the
// group's progress. Its methods run with the group locked.
type source struct {
	path  string
	queue string // set on messages that lack a queue; empty for done.jsonl
	sync  bool

	rf *os.File // the queue file, read with ReadAt
	of *os.File // the offsets file, rewritten in place

	readPos   int64           // offset of the first line not yet read
	line      int             // lines before readPos
	inflight  []*inproc.Entry // read and not yet acknowledged, in file order
	committed int64           // offset last written to the offsets file
	buf       []byte
}

// readChunk is how much of the file one read takes; lines longer than that
// grow the buffer.
const readChunk = 64 << 10

// openSource opens path for a group whose offsets live in offPath, and
// positions it at the committed offset.
func openSource(path, offPath, queue string, sync bool) (*source, error) {
	of, err := os.OpenFile(offPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := lockGroup(of); err != nil {
		of.Close()
		return nil, fmt.Errorf("lock %s: %w", offPath, err)
	}
	committed, canonical, err := readOffset(of)
	if err != nil {
		of.Close()
		return nil, fmt.Errorf("read committed offset from %s: %w", offPath, err)
	}
	rf, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		of.Close()
		return nil, err
	}
	s := &source{path: path, queue: queue, sync: sync, rf: rf, of: of, readPos: committed, committed: committed}
	if err := s.countLines(); err != nil {
		s.close()
		return nil, fmt.Errorf("resume %s at offset %d (from %s): %w", path, committed, offPath, err)
	}
	if !canonical {
		// commit rewrites the file in place, which needs it in the form it
		// writes: a file edited by hand is put back in that form first.
		if err := errors.Join(of.Truncate(0), s.write(committed)); err != nil {
			s.close()
			return nil, fmt.Errorf("rewrite %s: %w", offPath, err)
		}
	}
	return s, nil
}

// offsetLine is the one line of an offsets file.
func offsetLine(off int64) []byte { return fmt.Appendf(nil, "%020d\n", off) }

// readOffset reads an offsets file, reporting whether it is in the form
// offsetLine writes.
func readOffset(f *os.File) (off int64, canonical bool, err error) {
	data, err := io.ReadAll(f)
	if err != nil {
		return 0, false, err
	}
	text := strings.TrimSpace(string(data))
	if text == "" {
		return 0, len(data) == 0, nil
	}
	off, err = strconv.ParseInt(text, 10, 64)
	if err != nil || off < 0 {
		return 0, false, fmt.Errorf("not an offset: %q", text)
	}
	return off, bytes.Equal(data, offsetLine(off)), nil
}

// countLines sets s.line to the number of lines before the committed
// offset, so that errors name the right line, and checks that the offset
// falls at the start of a line.
func (s *source) countLines() error {
	fi, err := s.rf.Stat()
	if err != nil {
		return err
	}
	if s.readPos > fi.Size() {
		return fmt.Errorf("the file has only %d bytes: was it truncated? Remove the offsets file to start over", fi.Size())
	}
	buf := make([]byte, readChunk)
	var last byte = '\n'
	for pos := int64(0); pos < s.readPos; {
		n, err := s.rf.ReadAt(buf[:min(int64(len(buf)), s.readPos-pos)], pos)
		s.line += bytes.Count(buf[:n], []byte{'\n'})
		if n > 0 {
			last = buf[n-1]
		}
		pos += int64(n)
		if err != nil && !(errors.Is(err, io.EOF) && pos == s.readPos) {
			return err
		}
	}
	if last != '\n' {
		return errors.New("the offset is not at the start of a line")
	}
	return nil
}

// Fill implements inproc.Source: it reads complete lines from readPos on,
// until it has pushed want messages or reached the end of the file. A line
// still being written (no newline yet) is left for the next Fill.
func (s *source) Fill(want int, push func(*inproc.Entry)) error {
	var errs []error
	pushed := 0
	for pushed < want {
		if s.buf == nil {
			s.buf = make([]byte, readChunk)
		}
		n, err := s.rf.ReadAt(s.buf, s.readPos)
		if err != nil && !errors.Is(err, io.EOF) {
			errs = append(errs, fmt.Errorf("read %s: %w", s.path, err))
			break
		}
		data := s.buf[:n]
		consumed := 0
		for {
			i := bytes.IndexByte(data[consumed:], '\n')
			if i < 0 {
				break
			}
			line := data[consumed : consumed+i]
			start := s.readPos + int64(consumed)
			consumed += i + 1
			s.line++
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			m, err := decodeLine(line, s.path, s.line, start)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if m.Queue == "" {
				m.Queue = s.queue
			}
			e := &inproc.Entry{Msg: m, Offset: start}
			push(e)
			s.inflight = append(s.inflight, e)
			pushed++
		}
		s.readPos += int64(consumed)
		if n < len(s.buf) {
			break // the end of the file, perhaps after a line still being written
		}
		if consumed == 0 {
			s.buf = make([]byte, 2*len(s.buf)) // a line longer than the buffer
		}
	}
	if len(s.inflight) == 0 {
		// Blank and malformed lines read with nothing in flight are
		// passed for good.
		errs = append(errs, s.commit(s.readPos))
	}
	return errors.Join(errs...)
}

// Acked implements inproc.Source: the committed offset moves up to the
// first line still unacknowledged.
func (s *source) Acked(*inproc.Entry) error {
	i := 0
	for i < len(s.inflight) && s.inflight[i].Acked() {
		s.inflight[i] = nil
		i++
	}
	s.inflight = s.inflight[i:]
	to := s.readPos
	if len(s.inflight) > 0 {
		to = s.inflight[0].Offset
	}
	return s.commit(to)
}

// commit records off in the offsets file, in place: a fixed-width number
// written by one small write at offset 0, so no reader sees half of it.
func (s *source) commit(off int64) error {
	if off <= s.committed {
		return nil
	}
	if err := s.write(off); err != nil {
		return fmt.Errorf("commit offset %d of %s: %w", off, s.path, err)
	}
	s.committed = off
	return nil
}

func (s *source) write(off int64) error {
	if _, err := s.of.WriteAt(offsetLine(off), 0); err != nil {
		return err
	}
	if s.sync {
		return s.of.Sync()
	}
	return nil
}

func (s *source) close() error {
	return errors.Join(s.rf.Close(), s.of.Close())
}
