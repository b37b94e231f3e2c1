package ui

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// keepAliveInterval is how often an idle event stream sends a comment, so
// proxies and browsers do not drop it.
const keepAliveInterval = 15 * time.Second

// live is the server-sent event stream pages subscribe to (GET /live):
//
//   - "changed" when something the page shows changed: any task for the
//     task list, the task or one of its steps for a task detail
//     (?task=ID&fp=FINGERPRINT). The page then re-fetches a fragment.
//   - "log" with new output of the task's attempts, as escaped HTML spans
//     carrying their sequence number and attempt, from ?logafter=SEQ on.
//
// It reads the store's event log by sequence number every
// LivePollInterval, so it sees changes made by any process sharing the
// store, not only this one.
func (u *UI) live(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	taskID := q.Get("task")
	logSeq, _ := strconv.ParseInt(q.Get("logafter"), 10, 64)

	seq, err := u.latestSeq(ctx)
	if err != nil {
		u.logger.Error("ui: live: latest event", "err", err)
		http.Error(w, "event stream unavailable", http.StatusServiceUnavailable)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	send := func(event, data string) bool {
		var b strings.Builder
		if event != "" {
			b.WriteString("event: " + event + "\n")
		}
		for _, line := range strings.Split(data, "\n") {
			b.WriteString("data: " + line + "\n")
		}
		b.WriteString("\n")
		if _, err := fmt.Fprint(w, b.String()); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil || rc.Flush() != nil {
		return
	}

	var fp string
	active := false
	if taskID != "" {
		fp, active, err = u.fingerprint(ctx, taskID)
		if err != nil {
			send("gone", "")
			return
		}
		if fp != q.Get("fp") && !send("changed", fp) {
			return
		}
	} else if !send("changed", strconv.FormatInt(seq, 10)) {
		return
	}

	var lastProgress string
	tick := time.NewTicker(u.cfg.LivePollInterval)
	defer tick.Stop()
	lastSend := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		evs, err := u.engine.Events(ctx, &store.ListEventsParams{AfterSeq: seq, Limit: 1000})
		if err != nil {
			if ctx.Err() == nil {
				u.logger.Warn("ui: live: read events", "err", err)
			}
			continue
		}
		wasActive := active
		if len(evs) > 0 {
			seq = evs[len(evs)-1].Seq
			if len(evs) == 1000 {
				// Far behind a busy store: jump to its head.
				if s, err := u.latestSeq(ctx); err == nil {
					seq = s
				}
			}
			if taskID == "" {
				if !send("changed", strconv.FormatInt(seq, 10)) {
					return
				}
				lastSend = time.Now()
			}
		}
		// A running task's progress changes without an event: its page
		// is told of that too, at the cost of one read of the task.
		if taskID != "" && (len(evs) > 0 || active && u.progressMoved(ctx, taskID, &lastProgress)) {
			nfp, nactive, err := u.fingerprint(ctx, taskID)
			if err == nil && nfp != fp {
				fp, active = nfp, nactive
				if !send("changed", fp) {
					return
				}
				lastSend = time.Now()
			}
		}
		if taskID != "" && (active || wasActive) {
			chunks, err := u.engine.Logs(ctx, &store.GetLogsParams{TaskID: taskID, AfterSeq: logSeq, Limit: 100})
			if err == nil {
				for _, c := range chunks {
					logSeq = c.Seq
					if !send("log", logSpan(c)) {
						return
					}
					lastSend = time.Now()
				}
			}
		}
		if time.Since(lastSend) > keepAliveInterval {
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
			lastSend = time.Now()
		}
	}
}

// logSpan is one log chunk as the HTML the log pane appends: its text
// escaped, its sequence number and attempt for the page to drop chunks it
// already shows or that belong to another attempt.
func logSpan(c store.LogChunk) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<span data-seq="%d" data-attempt="%d">`, c.Seq, c.Attempt)
	writeLogHTML(&b, c)
	b.WriteString("</span>")
	return b.String()
}

// fingerprint summarises what a task detail shows of a task's state: its
// status and attempt and those of its steps. active is true while the
// task has not ended.
func (u *UI) fingerprint(ctx context.Context, id string) (fp string, active bool, err error) {
	t, err := u.engine.Get(ctx, id)
	if err != nil {
		return "", false, err
	}
	sum, err := u.engine.ChildSummary(ctx, id, maxFlowSteps)
	if err != nil {
		return "", false, err
	}
	items, err := u.itemProgress(ctx, sum.Children)
	if err != nil {
		return "", false, err
	}
	return taskFingerprint(t, sum.Children, items), !t.Status.Terminal(), nil
}

// itemProgress counts the items of every fan-out step among children that
// has not ended, so that a flow's page is refreshed as its fan-out nodes'
// rings fill, though the steps themselves have not changed.
func (u *UI) itemProgress(ctx context.Context, children []*loom.TaskInfo) (string, error) {
	var b strings.Builder
	for _, c := range children {
		if !fanOutStep(c) || c.Status.Terminal() {
			continue
		}
		sum, err := u.engine.ChildSummary(ctx, c.ID, 1)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s:%d/%d/%d;", c.ID, sum.Total, sum.Counts[loom.StatusCompleted]+sum.Counts[loom.StatusSkipped], sum.Counts[loom.StatusFailed])
	}
	return b.String(), nil
}

// progressMoved reports whether task id's progress is other than *last,
// which it then updates.
func (u *UI) progressMoved(ctx context.Context, id string, last *string) bool {
	t, err := u.engine.Get(ctx, id)
	if err != nil || t.Progress == nil {
		return false
	}
	key := fmt.Sprintf("%d/%d|%s|%d", t.Progress.Done, t.Progress.Total, t.Progress.Message, t.Attempt)
	if key == *last {
		return false
	}
	*last = key
	return true
}

// taskFingerprint hashes the state of t, its children and its fan-out
// steps' items (itemProgress).
func taskFingerprint(t *loom.TaskInfo, children []*loom.TaskInfo, items string) string {
	h := fnv.New64a()
	write := func(t *loom.TaskInfo) {
		fmt.Fprintf(h, "%s|%s|%d|%s\n", t.ID, t.Status, t.Attempt, t.Msg)
		if p := t.Progress; p != nil {
			fmt.Fprintf(h, "%d/%d|%s\n", p.Done, p.Total, p.Message)
		}
	}
	write(t)
	for _, c := range children {
		write(c)
	}
	fmt.Fprint(h, items)
	return strconv.FormatUint(h.Sum64(), 36)
}

// latestSeq finds the sequence number of the newest event with a
// galloping then binary search over "any event after x?", a few dozen
// indexed lookups even on a store with millions of events, since the
// store has no call that returns the newest event.
func (u *UI) latestSeq(ctx context.Context) (int64, error) {
	after := func(x int64) (int64, bool, error) {
		evs, err := u.engine.Events(ctx, &store.ListEventsParams{AfterSeq: x, Limit: 1})
		if err != nil || len(evs) == 0 {
			return 0, false, err
		}
		return evs[0].Seq, true, nil
	}
	// lo: some event is after it; hi: none is.
	lo, hi := int64(-1), int64(1024)
	for {
		s, ok, err := after(hi)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		lo, hi = s-1, max(hi*2, s*2)
	}
	if lo < 0 {
		s, ok, err := after(0)
		if err != nil || !ok {
			return 0, err
		}
		lo = s - 1
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		s, ok, err := after(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = max(mid, s-1)
		} else {
			hi = mid
		}
	}
	return hi, nil
}
