package inproc

// ring is a FIFO of entries on a growable circular buffer, so that a queue
// that fills and drains keeps reusing one allocation.
type ring struct {
	buf  []*Entry
	head int
	n    int
}

func (r *ring) len() int { return r.n }

func (r *ring) push(e *Entry) {
	if r.n == len(r.buf) {
		size := 2 * len(r.buf)
		if size < 16 {
			size = 16
		}
		buf := make([]*Entry, size)
		for i := 0; i < r.n; i++ {
			buf[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = buf, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = e
	r.n++
}

func (r *ring) front() *Entry {
	if r.n == 0 {
		return nil
	}
	return r.buf[r.head]
}

func (r *ring) pop() *Entry {
	if r.n == 0 {
		return nil
	}
	e := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return e
}

// reset drops every entry.
func (r *ring) reset() { *r = ring{} }
