package main

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/loomhq/loom"
)

// progress prints a task's and its steps' status changes as lines, the
// same on a terminal and in a log file, and the task's own progress as a
// bar: redrawn in place under the lines on a terminal, a line of its own
// now and then (every barLineEvery, or once a tenth more is done)
// elsewhere, so that a log file stays readable.
type progress struct {
	w     io.Writer
	start time.Time
	task  string // last printed state of the task
	steps map[string]string
	// tty says w is a terminal: the bar is redrawn in place.
	tty bool
	// barShown says the terminal's last line is the bar, without a newline.
	barShown bool
	// lastBar is the bar last printed, when and at what tenth.
	lastBar      string
	lastBarAt    time.Time
	lastBarTenth int
}

// barLineEvery is the least time between two progress lines when the
// output is not a terminal.
const barLineEvery = 5 * time.Second

func newProgress(w io.Writer) *progress {
	return &progress{w: w, start: time.Now(), steps: map[string]string{}, tty: isTerminal(w)}
}

// isTerminal reports whether w is a character device, a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
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
	p.showBar(task)
}

// showBar prints the task's progress, if it reported any: in place on a
// terminal while it runs; as a line elsewhere, when enough has changed;
// and once more, as a line, when the task has ended.
func (p *progress) showBar(task *loom.TaskInfo) {
	if task.Progress == nil {
		return
	}
	bar := progressBar(task.Progress, 30)
	tenth := -1
	if f, ok := task.Progress.Fraction(); ok {
		tenth = int(f * 10)
	}
	switch {
	case task.Status.Terminal():
		if bar != p.lastBar || p.barShown {
			p.printf("  progress %s", bar)
		}
	case task.Status != loom.StatusRunning:
	case p.tty:
		p.clearBar()
		elapsed := time.Since(p.start).Truncate(100 * time.Millisecond)
		fmt.Fprintf(p.w, "%7s    progress %s", elapsed, bar)
		p.barShown = true
	case bar != p.lastBar && (tenth != p.lastBarTenth || time.Since(p.lastBarAt) >= barLineEvery):
		p.printf("  progress %s", bar)
	default:
		return
	}
	p.lastBar, p.lastBarAt, p.lastBarTenth = bar, time.Now(), tenth
}

// clearBar erases the bar drawn in place, so that a line can take its place.
func (p *progress) clearBar() {
	if p.barShown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.barShown = false
	}
}

// progressBar draws pr as a bar width characters wide, in ASCII so that
// it reads the same in a log file: "[#######.......]  50%  5/10 message";
// a count alone when the total is unknown.
func progressBar(pr *loom.Progress, width int) string {
	var b strings.Builder
	if f, ok := pr.Fraction(); ok {
		n := int(f * float64(width))
		b.WriteString("[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]")
		fmt.Fprintf(&b, " %3d%%  %d/%d", int(f*100), pr.Done, pr.Total)
	} else {
		fmt.Fprintf(&b, "%d done", pr.Done)
	}
	if pr.Message != "" {
		b.WriteString("  " + oneLine(pr.Message, 60))
	}
	return b.String()
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
	p.clearBar()
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
