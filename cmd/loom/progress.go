package main

import (
	"fmt"
	"io"
	"time"

	"github.com/loomhq/loom"
)

// progress prints a task's and its steps' status changes as lines, the
// same on a terminal and in a log file.
type progress struct {
	w     io.Writer
	start time.Time
	task  string // last printed state of the task
	steps map[string]string
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, start: time.Now(), steps: map[string]string{}}
}

// update prints what changed since the last call: the task's own change
// first while it runs, last once it ended, so the lines read in order.
func (p *progress) update(task *loom.TaskInfo, steps []*loom.TaskInfo) {
	if !task.Status.Terminal() {
		p.printTask(task)
	}
	for _, s := range steps {
		name := s.Step
		if name == "" {
			name = s.Type
		}
		state := stateOf(s)
		if p.steps[s.ID] == state {
			continue
		}
		p.steps[s.ID] = state
		p.printf("  step %-20s %s", name, state)
	}
	if task.Status.Terminal() {
		p.printTask(task)
	}
}

func (p *progress) printTask(task *loom.TaskInfo) {
	if state := stateOf(task); state != p.task {
		p.task = state
		p.printf("%s %s: %s", task.Type, task.ID, state)
	}
}

func (p *progress) printf(format string, args ...any) {
	elapsed := time.Since(p.start).Truncate(100 * time.Millisecond)
	fmt.Fprintf(p.w, "%7s  %s\n", elapsed, fmt.Sprintf(format, args...))
}

// stateOf is the status in words: with the attempt while running or
// retrying, and the message once failed.
func stateOf(t *loom.TaskInfo) string {
	switch {
	case t.Status == loom.StatusRunning && t.MaxAttempts > 1:
		return fmt.Sprintf("running (attempt %d of %d)", t.Attempt, t.MaxAttempts)
	case t.Status == loom.StatusPending && t.Attempt > 0:
		return fmt.Sprintf("pending (retry after attempt %d: %s)", t.Attempt, t.Msg)
	case t.Status == loom.StatusFailed || t.Status == loom.StatusCancelled:
		if t.Msg != "" {
			return fmt.Sprintf("%s: %s", t.Status, t.Msg)
		}
	}
	return string(t.Status)
}

// outcome turns an ended task into the command's result: nil when it
// completed, else an exitError (its story already printed).
func outcome(task *loom.TaskInfo) error {
	if task.Status == loom.StatusCompleted {
		return nil
	}
	return &exitError{code: 1, msg: fmt.Sprintf("task %s %s", task.ID, task.Status)}
}
