package main

import (
	"fmt"
	"io"
	"regexp"
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
		key := changeKey(s)
		if p.steps[s.ID] == key {
			continue
		}
		p.steps[s.ID] = key
		p.printf("  step %-20s %s", name, stateOf(s))
	}
	if task.Status.Terminal() {
		p.printTask(task)
	}
}

func (p *progress) printTask(task *loom.TaskInfo) {
	if key := changeKey(task); key != p.task {
		p.task = key
		p.printf("%s %s: %s", task.Type, task.ID, stateOf(task))
	}
}

// changeKey is what, changed, makes a task's state worth a new line; the
// countdown to a retry is not.
func changeKey(t *loom.TaskInfo) string {
	return fmt.Sprint(t.Status, t.Attempt, t.MaxAttempts, t.Msg, t.RunAt.UnixNano())
}

func (p *progress) printf(format string, args ...any) {
	elapsed := time.Since(p.start).Truncate(100 * time.Millisecond)
	fmt.Fprintf(p.w, "%7s  %s\n", elapsed, fmt.Sprintf(format, args...))
}

// stateOf is the status in words: a running task's attempt out of its
// budget; a task waiting to retry, the attempt that failed, its error and
// when the retry is due; an ended one's message.
func stateOf(t *loom.TaskInfo) string {
	switch {
	case t.Status == loom.StatusRunning && t.MaxAttempts > 1:
		return fmt.Sprintf("running (attempt %d of %d)", t.Attempt, t.MaxAttempts)
	case t.Status == loom.StatusPending && t.Attempt > 0:
		return fmt.Sprintf("attempt %d of %d failed: %s; retry due %s", t.Attempt, t.MaxAttempts,
			retryPrefix.ReplaceAllString(t.Msg, ""), dueIn(t.RunAt))
	case t.Status == loom.StatusFailed || t.Status == loom.StatusCancelled:
		if t.Msg != "" {
			return fmt.Sprintf("%s: %s", t.Status, t.Msg)
		}
	}
	return string(t.Status)
}

// retryPrefix is what the engine puts before the error of an attempt that
// will be retried; stateOf says it its own way.
var retryPrefix = regexp.MustCompile(`^attempt \d+ failed, retrying in [^:]*: `)

// dueIn says when a retry is due: the time of day and how long from now.
func dueIn(at time.Time) string {
	d := time.Until(at).Round(time.Second)
	if d <= 0 {
		return "now"
	}
	return fmt.Sprintf("at %s (in %s)", at.Local().Format(time.TimeOnly), d)
}

// outcome turns an ended task into the command's result: nil when it
// completed, else an exitError (its story already printed).
func outcome(task *loom.TaskInfo) error {
	if task.Status == loom.StatusCompleted {
		return nil
	}
	return &exitError{code: 1, msg: fmt.Sprintf("task %s %s", task.ID, task.Status)}
}
