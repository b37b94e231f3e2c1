package engine

import (
	"sync"

	"github.com/loomhq/loom"
)

// waiterSet lets Wait block on a task's end: the completer, the reaper,
// Cancel and the flow advancer tell it whenever a task ends.
type waiterSet struct {
	mu sync.Mutex
	m  map[string][]chan *loom.TaskInfo
}

func (w *waiterSet) init() { w.m = make(map[string][]chan *loom.TaskInfo) }

// add returns a channel that receives the task once it ends, and a
// function to stop waiting.
func (w *waiterSet) add(id string) (<-chan *loom.TaskInfo, func()) {
	ch := make(chan *loom.TaskInfo, 1)
	w.mu.Lock()
	w.m[id] = append(w.m[id], ch)
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		chs := w.m[id]
		for i, c := range chs {
			if c == ch {
				chs = append(chs[:i], chs[i+1:]...)
				break
			}
		}
		if len(chs) == 0 {
			delete(w.m, id)
		} else {
			w.m[id] = chs
		}
	}
}

// has reports whether anyone waits for task id. Wait adds itself before
// it reads the task, so a task that ended before has says no is seen
// ended by that read.
func (w *waiterSet) has(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.m[id]) > 0
}

// ended tells the waiters of t, if t has ended.
func (w *waiterSet) ended(t *loom.TaskInfo) {
	if t == nil || !t.Status.Terminal() {
		return
	}
	w.mu.Lock()
	chs := w.m[t.ID]
	delete(w.m, t.ID)
	w.mu.Unlock()
	for _, ch := range chs {
		ch <- t
	}
}
