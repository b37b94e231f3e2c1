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

// DefaultBackfillRate is how many runs a backfill creates per second when
// it names no rate: enough to cover a year of daily runs in a minute,
// slow enough not to flood workers.
const DefaultBackfillRate = 10

// StartBackfill stores a backfill and starts creating its runs in the
// background: every scheduled time of b.Schedule (or of b.Cron with
// b.Task) in [From, To), at most Rate a second, each with the same key
// its regular run would have, so that repeating a backfill creates
// nothing new. Progress is stored after every batch; a restart resumes.
func (t *Taskmaster) StartBackfill(ctx context.Context, b *store.Backfill) (*store.Backfill, error) {
	if _, _, err := t.backfillSource(ctx, b); err != nil {
		return nil, err
	}
	if !b.From.Before(b.To) {
		return nil, fmt.Errorf("%w: backfill: from must be before to", ErrInvalid)
	}
	if b.Rate < 0 {
		return nil, fmt.Errorf("%w: backfill: rate must not be negative", ErrInvalid)
	}
	if b.Rate == 0 {
		b.Rate = DefaultBackfillRate
	}
	b.ID = uuid.Must(uuid.NewV7()).String()
	b.Next, b.Started = b.From, t.clock.Now()
	b.Created, b.Existing, b.Done, b.Error, b.Finished = 0, 0, false, "", nil
	if err := t.st.CreateBackfill(ctx, b); err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	out := *b
	t.startBackfill(b)
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
		t.logger.Error("taskmaster: list backfills", "err", err)
		return
	}
	for _, b := range bs {
		if !b.Done {
			t.startBackfill(b)
		}
	}
}

func (t *Taskmaster) startBackfill(b *store.Backfill) {
	t.mu.Lock()
	ctx := t.bfCtx
	if t.running[b.ID] {
		t.mu.Unlock()
		return
	}
	t.running[b.ID] = true
	t.mu.Unlock()
	t.backfills.Go(func() {
		defer func() {
			t.mu.Lock()
			delete(t.running, b.ID)
			t.mu.Unlock()
		}()
		if err := t.runBackfill(ctx, b); err != nil && ctx.Err() == nil {
			t.logger.Error("taskmaster: backfill", "backfill", b.ID, "err", err)
		}
	})
}

// runBackfill creates a backfill's runs, Rate per second, storing
// progress after each batch.
func (t *Taskmaster) runBackfill(ctx context.Context, b *store.Backfill) error {
	def, tpl, err := t.backfillSource(ctx, b)
	finish := func(err error) error {
		now := t.clock.Now()
		b.Done, b.Finished = true, &now
		if err != nil {
			b.Error = err.Error()
		}
		return errors.Join(err, t.st.UpdateBackfill(context.WithoutCancel(ctx), b))
	}
	if err != nil {
		return finish(err)
	}
	sc := &store.Schedule{Def: def, Task: *tpl}
	for ctx.Err() == nil {
		fires, more, err := schedule.Backfill(def, b.Next, b.To, b.Rate)
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
		if err := t.st.UpdateBackfill(ctx, b); err != nil {
			return err
		}
		if !t.sleep(ctx, time.Second, nil) {
			return nil
		}
	}
	return nil
}
