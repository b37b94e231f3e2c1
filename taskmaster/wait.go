package taskmaster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/auth"
	"github.com/loomhq/loom/store"
)

// WaitType is the name the wait task type is registered under.
const WaitType = "wait"

// WaitRecheck bounds how long a waiting task sleeps between looks at the
// store, in case a wake-up from SendSignal was missed (a signal sent
// while the task's attempt was running).
const WaitRecheck = 30 * time.Second

// errWaiting is the "not yet" a waiting attempt ends with.
var errWaiting = errors.New("waiting")

// waitingFor is the message a look that found no signal name ends with: it
// tells an operator what the step waits for, and Signal which steps of a
// flow to wake.
func waitingFor(name string) string { return "waiting for signal " + strconv.Quote(name) }

// WaitingFor reports the signal a pending task waits for, as the message
// of its last look says; ok is false for a task that waits for none, so
// that a UI can offer to send it (a human approval).
func WaitingFor(t *loom.TaskInfo) (signal string, ok bool) {
	const marker = "waiting for signal "
	if t == nil || t.Status != loom.StatusPending {
		return "", false
	}
	i := strings.LastIndex(t.Msg, marker)
	if i < 0 {
		return "", false
	}
	name, err := strconv.Unquote(t.Msg[i+len(marker):])
	if err != nil || name == "" {
		return "", false
	}
	return name, true
}

// NewWaitTask returns the wait task type: a task (or flow step) that
// completes when the outside world says so, without holding a worker
// while it waits. Its input:
//
//   - "signal": the name of a signal to wait for, sent with
//     POST /api/v1/tasks/{id}/signal; the task's output is
//     {"signal": name, "data": the signal's data, "signaled_at": time}.
//     A flow step also takes the signal sent to its flow, so that a
//     caller needs only the flow's id: Taskmaster.Signal passes it on to
//     the flow's waiting steps, which wakes them at once; a signal stored
//     otherwise reaches the step at its next look (within WaitRecheck).
//   - "timeout": how long to wait for the signal (a Go duration, counted
//     from the task's creation, or from its retry when retried by hand);
//     past it the task fails, or completes with
//     {"timed_out": true} when "on_timeout" is "complete". Default: the
//     task's own expiry.
//   - "duration" or "until" (RFC 3339) without "signal": a durable timer;
//     the task completes with {"waited_until": time} when it runs out.
//
// Each attempt looks in the store and, when it must wait longer, ends at
// once asking to be retried when the timer runs out (or WaitRecheck
// later); a signal makes the task due at once. The wait is in the store,
// not in memory, so it survives restarts.
func NewWaitTask(st store.TaskmasterStore, clock loom.Clock) *loom.Task {
	if clock == nil {
		clock = loom.SystemClock{}
	}
	w := &waiter{st: st, clock: clock}
	return &loom.Task{
		Name:    WaitType,
		Handler: loom.HandlerFunc(w.handle),
		// Every look is an attempt; the budget must never run out first.
		Retry: &loom.RetryPolicy{MaxAttempts: math.MaxInt32},
	}
}

// WaitTask returns the wait task type over this Taskmaster's store and
// clock; register it with the engine.
func (t *Taskmaster) WaitTask() *loom.Task { return NewWaitTask(t.st, t.clock) }

type waiter struct {
	st    store.TaskmasterStore
	clock loom.Clock
}

func (w *waiter) handle(ctx context.Context, in loom.Values) (loom.Values, error) {
	a, ok := loom.Attempt(ctx)
	if !ok {
		return nil, loom.Permanent(errors.New("wait: runs only in the durable engine"))
	}
	task, err := w.st.GetTask(ctx, a.RunID)
	if err != nil {
		return nil, fmt.Errorf("wait: %w", err)
	}
	signal, _ := in["signal"].(string)
	deadline, err := waitDeadline(in, task)
	if err != nil {
		return nil, loom.Permanent(err)
	}
	now := w.clock.Now()
	if !now.Before(deadline) {
		// Past it: unless the task was retried by hand since, when a
		// relative wait counts afresh.
		if deadline, err = w.retriedDeadline(ctx, in, task, deadline); err != nil {
			return nil, fmt.Errorf("wait: %w", err)
		}
	}
	if signal != "" {
		sig, err := w.signal(ctx, task, signal)
		switch {
		case err == nil:
			return loom.Values{"signal": signal, "data": sig.Data, "signaled_at": sig.Time.Format(time.RFC3339Nano)}, nil
		case !errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("wait: %w", err)
		}
		if !now.Before(deadline) {
			if onTimeout, _ := in["on_timeout"].(string); onTimeout == "complete" {
				return loom.Values{"signal": signal, "timed_out": true}, nil
			}
			return nil, loom.Permanent(fmt.Errorf("%w: no signal %q by %s", loom.ErrTimeout, signal, deadline.Format(time.RFC3339)))
		}
	} else if !now.Before(deadline) {
		return loom.Values{"waited_until": deadline.Format(time.RFC3339Nano)}, nil
	}
	err = errWaiting
	if signal != "" {
		err = errors.New(waitingFor(signal))
	}
	return nil, loom.RetryAfter(err, min(deadline.Sub(now), WaitRecheck))
}

// signal returns the signal name sent to task or, for a flow step, to its
// flow; ErrNotFound when neither has it.
func (w *waiter) signal(ctx context.Context, task *loom.TaskInfo, name string) (*store.Signal, error) {
	sig, err := w.st.GetSignal(ctx, task.ID, name)
	if errors.Is(err, store.ErrNotFound) && task.ParentID != "" {
		return w.st.GetSignal(ctx, task.ParentID, name)
	}
	return sig, err
}

// eventRetried is the event a task retried by hand records.
const eventRetried = "retried"

// retriedDeadline returns the deadline of a relative wait ("duration" or
// "timeout") counted from the last time task was retried by hand, as a
// retried wait starts over; deadline, as computed from the task's
// creation, when it never was or the wait is absolute. It reads the
// task's events, so it is called only once deadline has passed.
func (w *waiter) retriedDeadline(ctx context.Context, in loom.Values, task *loom.TaskInfo, deadline time.Time) (time.Time, error) {
	if _, abs := in["until"].(string); abs {
		return deadline, nil
	}
	evs, err := w.st.ListEvents(ctx, &store.ListEventsParams{TaskID: task.ID})
	if err != nil {
		return deadline, err
	}
	var retried time.Time
	for _, e := range evs {
		if e.Type == eventRetried {
			retried = e.Time
		}
	}
	if retried.IsZero() {
		return deadline, nil
	}
	run := *task
	run.Created = retried
	return waitDeadline(in, &run)
}

// waitDeadline reads until, duration or timeout from the input; the
// default is just before the task's own expiry, so a signal wait fails
// with a clear message rather than being reaped.
func waitDeadline(in loom.Values, task *loom.TaskInfo) (time.Time, error) {
	if s, ok := in["until"].(string); ok {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("wait: until %q is not an RFC 3339 time", s)
		}
		return t, nil
	}
	for _, k := range []string{"duration", "timeout"} {
		if s, ok := in[k].(string); ok {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				return time.Time{}, fmt.Errorf("wait: %s %q is not a duration like \"10m\"", k, s)
			}
			return task.Created.Add(d), nil
		}
	}
	if _, ok := in["signal"].(string); !ok {
		return time.Time{}, errors.New(`wait: give "signal", "duration" or "until"`)
	}
	return task.Timeout.Add(-time.Second), nil
}

// Signal sends a signal to a task, waking it if it waits for it.
func (t *Taskmaster) Signal(ctx context.Context, taskID, name string, data map[string]any) (*store.Signal, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: a signal needs a name", ErrInvalid)
	}
	now := t.clock.Now()
	sig, err := t.st.SendSignal(ctx, &store.SendSignalParams{TaskID: taskID, Name: name, Data: data, Now: now, Actor: auth.Actor(ctx)})
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	// A flow's waiting steps would see a signal sent to the flow at their
	// next look; sent to them too, it wakes them now.
	steps, err := t.eng.Children(ctx, taskID)
	if err != nil {
		return nil, fmt.Errorf("taskmaster: signal %s to the steps of %s: %w", name, taskID, err)
	}
	for _, step := range steps {
		// A waiting step's last look says what it waits for, whatever its
		// type is called in its flow.
		if step.Status != loom.StatusPending || !strings.HasSuffix(step.Msg, waitingFor(name)) {
			continue
		}
		if _, err := t.st.SendSignal(ctx, &store.SendSignalParams{TaskID: step.ID, Name: name, Data: data, Now: now, Actor: auth.Actor(ctx)}); err != nil {
			return nil, fmt.Errorf("taskmaster: signal %s to step %s of %s: %w", name, step.Step, taskID, err)
		}
	}
	return sig, nil
}
