package taskmaster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/schedule"
	"github.com/loomhq/loom/store"
)

// Backfill limits. A backfill is refused (ErrInvalid, answered 422) when
// it asks for more; they bound what one request can make the server do
// and hold in memory: runs are created in batches of at most Rate, one
// batch a second.
const (
	// DefaultBackfillRate is how many runs a backfill creates per second
	// when it names no rate: enough to cover a year of daily runs in a
	// minute, slow enough not to flood workers.
	DefaultBackfillRate = 10
	// MaxBackfillRate is the highest rate a backfill may ask for, in runs
	// a second, and so the largest batch it holds in memory.
	MaxBackfillRate = 1000
	// MaxBackfillRuns is the most runs one backfill may create; a longer
	// range is split into several backfills.
	MaxBackfillRuns = 10_000
)

// StartBackfill stores a backfill and starts creating its runs in the
// background: every scheduled time of b.Schedule (or of b.Cron with
// b.Task) in [From, To), at most Rate a second, each with the same key
// its regular run would have, so that repeating a backfill creates
// nothing new. Progress is stored after every batch; a restart resumes
// from it. A rate over MaxBackfillRate, or a range holding more than
// MaxBackfillRuns runs, is refused with ErrInvalid. An Elected
// Taskmaster whose server does not lead only stores the backfill: the
// leader's Run starts it.
func (t *Taskmaster) StartBackfill(ctx context.Context, b *store.Backfill) (*store.Backfill, error) {
	def, _, err := t.backfillSource(ctx, b)
	if err != nil {
		return nil, err
	}
	if !b.From.Before(b.To) {
		return nil, fmt.Errorf("%w: backfill: from must be before to", ErrInvalid)
	}
	switch {
	case b.Rate < 0:
		return nil, fmt.Errorf("%w: backfill: rate must not be negative", ErrInvalid)
	case b.Rate > MaxBackfillRate:
		return nil, fmt.Errorf("%w: backfill: rate %d is over the limit of %d runs a second", ErrInvalid, b.Rate, MaxBackfillRate)
	case b.Rate == 0:
		b.Rate = DefaultBackfillRate
	}
	n, err := schedule.CountBackfill(def, b.From, b.To, MaxBackfillRuns)
	if err != nil {
		return nil, fmt.Errorf("%w: backfill: %w", ErrInvalid, err)
	}
	if n > MaxBackfillRuns {
		return nil, fmt.Errorf("%w: backfill: the range from %s to %s holds more than %d runs, the limit of one backfill; split it into shorter ranges",
			ErrInvalid, b.From.Format(time.RFC3339), b.To.Format(time.RFC3339), MaxBackfillRuns)
	}
	b.ID = uuid.Must(uuid.NewV7()).String()
	b.Next, b.Started = b.From, t.clock.Now()
	b.Created, b.Existing, b.Status, b.Done, b.Error, b.Finished = 0, 0, store.BackfillRunning, false, "", nil
	if err := t.st.CreateBackfill(ctx, b); err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	out := *b
	t.mu.Lock()
	standby := t.cfg.Elected && !t.active
	t.mu.Unlock()
	if !standby {
		t.startBackfill(b)
	}
	return &out, nil
}

// Backfill returns one backfill and its progress.
func (t *Taskmaster) Backfill(ctx context.Context, id string) (*store.Backfill, error) {
	b, err := t.st.GetBackfill(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	return b, nil
}

// CancelBackfill stops a backfill: no more runs are created, those
// created stay, and its status becomes cancelled. Cancelling it again
// changes nothing; a finished backfill answers store.ErrConflict.
func (t *Taskmaster) CancelBackfill(ctx context.Context, id string) (*store.Backfill, error) {
	b, err := t.st.CancelBackfill(ctx, id, t.clock.Now())
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	t.mu.Lock()
	if stop := t.running[id]; stop != nil {
		stop()
	}
	t.mu.Unlock()
	return b, nil
}

// Backfills returns recent backfills, newest first.
func (t *Taskmaster) Backfills(ctx context.Context) ([]*store.Backfill, error) {
	bs, err := t.st.ListBackfills(ctx)
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	return bs, nil
}

// backfillSource is the schedule whose periods and task a backfill uses.
func (t *Taskmaster) backfillSource(ctx context.Context, b *store.Backfill) (schedule.Schedule, *store.TaskTemplate, error) {
	if b.Schedule != "" {
		sc, err := t.st.GetSchedule(ctx, b.Schedule)
		if err != nil {
			return schedule.Schedule{}, nil, fmt.Errorf("taskmaster: backfill: %w", err)
		}
		return sc.Def, &sc.Task, nil
	}
	if b.Cron == "" || b.Task == nil {
		return schedule.Schedule{}, nil, fmt.Errorf("%w: backfill: name a schedule, or give cron and task", ErrInvalid)
	}
	name := b.Task.Type
	def := schedule.Schedule{Name: name, Cron: b.Cron, TimeZone: b.TimeZone}
	if err := def.Validate(); err != nil {
		return schedule.Schedule{}, nil, fmt.Errorf("%w: backfill: %w", ErrInvalid, err)
	}
	if err := t.validateTemplate(b.Task); err != nil {
		return schedule.Schedule{}, nil, err
	}
	return def, b.Task, nil
}

// resumeBackfills restarts the backfills a previous process left
// unfinished.
func (t *Taskmaster) resumeBackfills(ctx context.Context) {
	bs, err := t.st.ListBackfills(ctx)
	if err != nil {
		if ctx.Err() == nil {
			t.logger.Error("taskmaster: list backfills", "err", err)
		}
		return
	}
	for _, b := range bs {
		if !b.Done {
			t.startBackfill(b)
		}
	}
}

// watchBackfills starts, every BackfillPoll, the backfills other servers
// stored while this one leads.
func (t *Taskmaster) watchBackfills(ctx context.Context) {
	for t.sleep(ctx, t.cfg.BackfillPoll, nil) {
		t.resumeBackfills(ctx)
	}
}

func (t *Taskmaster) startBackfill(b *store.Backfill) {
	t.mu.Lock()
	if t.running[b.ID] != nil || t.bfCtx.Err() != nil {
		t.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(t.bfCtx)
	t.running[b.ID] = cancel
	t.mu.Unlock()
	t.backfills.Go(func() {
		defer func() {
			t.mu.Lock()
			delete(t.running, b.ID)
			t.mu.Unlock()
			cancel()
		}()
		if err := t.runBackfill(ctx, b); err != nil && ctx.Err() == nil {
			t.logger.Error("taskmaster: backfill", "backfill", b.ID, "err", err)
		}
	})
}

// runBackfill creates a backfill's runs, Rate per second, storing
// progress after each batch. It returns when ctx is done (shutdown or
// cancel) or when the store refuses its progress because the backfill was
// cancelled, perhaps by another process.
func (t *Taskmaster) runBackfill(ctx context.Context, b *store.Backfill) error {
	def, tpl, err := t.backfillSource(ctx, b)
	finish := func(err error) error {
		now := t.clock.Now()
		b.Status, b.Done, b.Finished = store.BackfillDone, true, &now
		if err != nil {
			b.Status, b.Error = store.BackfillFailed, err.Error()
		}
		uerr := t.st.UpdateBackfill(context.WithoutCancel(ctx), b)
		if errors.Is(uerr, store.ErrConflict) {
			return nil // cancelled meanwhile; the cancel stands
		}
		return errors.Join(err, uerr)
	}
	if err != nil {
		return finish(err)
	}
	b.Status = store.BackfillRunning
	// A backfill stored before the rate was bounded keeps its batches
	// bounded too.
	batch := min(b.Rate, MaxBackfillRate)
	if batch <= 0 {
		batch = DefaultBackfillRate
	}
	sc := &store.Schedule{Def: def, Task: *tpl}
	for ctx.Err() == nil {
		fires, more, err := schedule.Backfill(def, b.Next, b.To, batch)
		if err != nil {
			if errors.Is(err, schedule.ErrEmptyRange) {
				return finish(nil)
			}
			return finish(err)
		}
		ps := make([]*engine.SubmitParams, 0, len(fires))
		for _, f := range fires {
			p, err := t.submitParams(tpl, nil, ScheduleKeyPrefix+f.Key, t.clock.Now(),
				map[string]any{"schedule": sc.Def.Name, "scheduled": f.Scheduled.Format(time.RFC3339Nano), "backfill": b.ID})
			if err != nil {
				return finish(err)
			}
			ps = append(ps, p)
		}
		if len(ps) > 0 {
			res, err := t.eng.SubmitMany(ctx, ps)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return finish(err)
			}
			for _, r := range res {
				if r.Created {
					b.Created++
				} else {
					b.Existing++
				}
			}
			b.Next = fires[len(fires)-1].Scheduled.Add(time.Nanosecond)
		}
		if !more {
			return finish(nil)
		}
		if err := t.st.UpdateBackfill(context.WithoutCancel(ctx), b); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return nil
			}
			return err
		}
		if !t.sleep(ctx, time.Second, nil) {
			return nil
		}
	}
	return nil
}
