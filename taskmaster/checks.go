package taskmaster

import (
	"context"
	"fmt"
	"time"

	"github.com/loomhq/loom/store"
)

// MaxCheckPeriod is the longest period and the longest grace a check may
// have (366 days): a check is for something that happens at least yearly,
// and its due time stays far inside the times a store keeps.
const MaxCheckPeriod = 366 * 24 * time.Hour

// CreateCheck stores a heartbeat check: it is late Period+Grace after its
// creation unless pinged.
func (t *Taskmaster) CreateCheck(ctx context.Context, c *store.Check) (*store.Check, error) {
	if err := validateCheck(c); err != nil {
		return nil, err
	}
	c.Created = t.clock.Now()
	c.LastPing, c.Pings = nil, 0
	if err := t.st.CreateCheck(ctx, c); err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	wake(t.wakeChecks)
	return t.st.GetCheck(ctx, c.Name)
}

// UpdateCheck changes a check's period and grace.
func (t *Taskmaster) UpdateCheck(ctx context.Context, c *store.Check) (*store.Check, error) {
	if err := validateCheck(c); err != nil {
		return nil, err
	}
	out, err := t.st.UpdateCheck(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	wake(t.wakeChecks)
	return out, nil
}

func validateCheck(c *store.Check) error {
	if err := validName("check", c.Name); err != nil {
		return err
	}
	if c.Period < time.Second || c.Period > MaxCheckPeriod {
		return fmt.Errorf("%w: check %s: period %s is not between 1s and %s", ErrInvalid, c.Name, c.Period, MaxCheckPeriod)
	}
	if c.Grace < 0 || c.Grace > MaxCheckPeriod {
		return fmt.Errorf("%w: check %s: grace %s is not between 0s and %s", ErrInvalid, c.Name, c.Grace, MaxCheckPeriod)
	}
	return nil
}

// Check returns one check.
func (t *Taskmaster) Check(ctx context.Context, name string) (*store.Check, error) {
	c, err := t.st.GetCheck(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	return c, nil
}

// Checks returns every check.
func (t *Taskmaster) Checks(ctx context.Context) ([]*store.Check, error) {
	cs, err := t.st.ListChecks(ctx)
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	return cs, nil
}

// DeleteCheck forgets a check and resolves its alert.
func (t *Taskmaster) DeleteCheck(ctx context.Context, name string) error {
	if err := t.st.DeleteCheck(ctx, name); err != nil {
		return fmt.Errorf("taskmaster: %w", err)
	}
	t.resolve(ctx, checkKey(name), "check "+name+" deleted", nil)
	return nil
}

// PingCheck records a ping from the job a check watches; a late check's
// alert resolves at once.
func (t *Taskmaster) PingCheck(ctx context.Context, name string) (*store.Check, error) {
	c, err := t.st.PingCheck(ctx, name, t.clock.Now())
	if err != nil {
		return nil, fmt.Errorf("taskmaster: %w", err)
	}
	t.resolve(ctx, checkKey(name), "check "+name+" pinged again", nil)
	wake(t.wakeChecks)
	return c, nil
}

func checkKey(name string) string { return store.AlertCheckLate + ":" + name }

// runChecks raises an alert for each check past its due time, sleeping
// on the clock until the earliest check falls due.
func (t *Taskmaster) runChecks(ctx context.Context) {
	for ctx.Err() == nil {
		d := t.cfg.MaxSleep
		if next := t.watchChecks(ctx); !next.IsZero() {
			d = min(d, next.Sub(t.clock.Now()))
		}
		if !t.sleep(ctx, max(d, 0), t.wakeChecks) {
			return
		}
	}
}

// watchChecks raises alerts for late checks and returns the earliest due
// time of those that are not late (zero: none).
func (t *Taskmaster) watchChecks(ctx context.Context) time.Time {
	cs, err := t.st.ListChecks(ctx)
	if err != nil {
		if ctx.Err() == nil {
			t.logger.Error("taskmaster: list checks", "err", err)
		}
		return t.clock.Now().Add(t.cfg.PollInterval)
	}
	now := t.clock.Now()
	var earliest time.Time
	for _, c := range cs {
		due := c.Due()
		if !now.Before(due) {
			last := "never pinged"
			if c.LastPing != nil {
				last = "last ping " + c.LastPing.UTC().Format(time.RFC3339)
			}
			t.raise(ctx, store.Alert{Key: checkKey(c.Name), Kind: store.AlertCheckLate, Subject: c.Name, Opened: now,
				Message: fmt.Sprintf("check %s is late: expected a ping every %s (grace %s), %s", c.Name, c.Period, c.Grace, last),
				Data:    map[string]any{"check": c.Name, "due": due.UTC().Format(time.RFC3339Nano)}}, nil, "")
			continue
		}
		if earliest.IsZero() || due.Before(earliest) {
			earliest = due
		}
	}
	return earliest
}
