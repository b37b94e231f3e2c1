package engine

import (
	"fmt"
	"math"
	"time"

	"github.com/loomhq/loom/store"
)

// The ranges of a submitted task's numbers. They keep every value
// storable on every store (and the arithmetic a retry does on attempts
// far from overflowing); a value outside them is refused with ErrInvalid
// naming the field.
const (
	// MaxAttemptsLimit is the largest SubmitParams.MaxAttempts: more
	// attempts than any retry policy with backoff can use.
	MaxAttemptsLimit = 1000
	// MinPriority is the lowest SubmitParams.Priority (that of an int32).
	MinPriority = math.MinInt32
	// MaxPriority is the highest SubmitParams.Priority (that of an int32).
	MaxPriority = math.MaxInt32
)

// expirySlack lets an expiry a little past store.MaxTime through: a
// caller that turned an expiry time of exactly MaxTime into a Timeout a
// moment before Submit reads its clock must not be refused for the
// difference. Times up to April 2262 are still stored exactly.
const expirySlack = time.Minute

// Validate checks p's numbers and times against the ranges a store keeps,
// for a submit at now: MaxAttempts within [0, MaxAttemptsLimit], Priority
// within [MinPriority, MaxPriority], RunAt (unless zero) within
// [store.MinTime, store.MaxTime], and Timeout not negative with an expiry
// (now + Timeout) no later than store.MaxTime (give or take a minute). It does not look at the
// type: Submit does that. The errors wrap ErrInvalid and name the field
// as the API spells it.
func (p *SubmitParams) Validate(now time.Time) error {
	if p.MaxAttempts < 0 || p.MaxAttempts > MaxAttemptsLimit {
		return fmt.Errorf("%w: max_attempts %d is not between 0 and %d", ErrInvalid, p.MaxAttempts, MaxAttemptsLimit)
	}
	if p.Priority < MinPriority || p.Priority > MaxPriority {
		return fmt.Errorf("%w: priority %d is not between %d and %d", ErrInvalid, p.Priority, MinPriority, MaxPriority)
	}
	if !p.RunAt.IsZero() && !store.InTimeRange(p.RunAt) {
		return fmt.Errorf("%w: run_at %s is not between %s and %s", ErrInvalid,
			p.RunAt.Format(time.RFC3339), store.MinTime.Format(time.RFC3339), store.MaxTime.Format(time.RFC3339))
	}
	if p.Retry != nil {
		if err := p.Retry.Policy(2).Validate(); err != nil {
			return fmt.Errorf("%w: retry: %w", ErrInvalid, err)
		}
	}
	if p.Timeout < 0 {
		return fmt.Errorf("%w: timeout %s is negative", ErrInvalid, p.Timeout)
	}
	if p.Timeout > store.MaxTime.Add(expirySlack).Sub(now) {
		return fmt.Errorf("%w: timeout %s expires after %s", ErrInvalid, p.Timeout, store.MaxTime.Format(time.RFC3339))
	}
	return nil
}
