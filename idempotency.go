package loom

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Idempotency makes a task run at most once per key. Three settings are kept
// apart, because they answer three different questions:
//
//   - Window: how long a completed run's key is remembered. A run with the
//     same key within the window returns the recorded Result and the handler
//     does not run again; after it, the key is forgotten and a new run runs.
//   - LockTTL: how long an in-flight run holds its key. While held, a
//     concurrent run with the same key waits for the first one and returns
//     its Result; if the holder vanishes (a crashed process), the lock lapses
//     after LockTTL and the next run takes it over.
//   - OnFailure: what a failed run does to its key: released (the default,
//     so a later retry runs) or kept (the failure is recorded and returned to
//     later runs within the window, as a completed run's result is).
//
// The key is either given per run (WithIdempotencyKey) or derived by Key
// from the inputs; by default from the task name and the canonical JSON of
// the inputs.
type Idempotency struct {
	// Key derives the key from the inputs. Nil means the task name plus a
	// SHA-256 of the inputs' canonical JSON.
	Key func(in Values) (string, error)
	// Window is how long a completed key is remembered. Default 24 hours.
	Window time.Duration
	// LockTTL is how long an in-flight run holds its key before another may
	// take it over. It must exceed the run's longest duration, retries
	// included. Default 15 minutes.
	LockTTL time.Duration
	// OnFailure says what a failed run does to its key. Default
	// ReleaseOnFailure.
	OnFailure FailureKeyPolicy
}

// FailureKeyPolicy says what a failed run does to its idempotency key.
type FailureKeyPolicy int

const (
	// ReleaseOnFailure forgets the key of a failed run, so the next run with
	// the key runs the handler again.
	ReleaseOnFailure FailureKeyPolicy = iota
	// KeepOnFailure records a failed run like a completed one: later runs
	// within the window return the failure without running.
	KeepOnFailure
)

// IdempotencyRecord is what a StateManager keeps for one idempotency key.
type IdempotencyRecord struct {
	// Key is the idempotency key.
	Key string `json:"key"`
	// Status is StatusRunning while a run holds the key, and the run's final
	// status once recorded.
	Status Status `json:"status"`
	// RunID is the run that holds or recorded the key.
	RunID string `json:"run_id"`
	// Result is the recorded outcome, set once the run ended.
	Result *Result `json:"result,omitempty"`
	// LockedUntil is when an in-flight run's lock lapses.
	LockedUntil time.Time `json:"locked_until"`
	// ExpiresAt is when a recorded result is forgotten.
	ExpiresAt time.Time `json:"expires_at"`
}

// IdempotencyStore keeps idempotency records. It is part of StateManager, so
// the durable engine's store makes the records survive restarts.
type IdempotencyStore interface {
	// AcquireKey takes key for runID unless another run holds it or has
	// recorded a result that has not expired. It returns acquired=true and
	// the new record when taken; otherwise acquired=false and the existing
	// record (in flight, or with a Result to return).
	AcquireKey(ctx context.Context, key, runID string, now time.Time, lockTTL time.Duration) (rec IdempotencyRecord, acquired bool, err error)
	// CompleteKey records the result of the run holding key, remembered
	// until expires.
	CompleteKey(ctx context.Context, key string, result *Result, expires time.Time) error
	// ReleaseKey forgets key, so the next run takes it.
	ReleaseKey(ctx context.Context, key string) error
}

// KeyWaiter is implemented by an IdempotencyStore that can tell when a key
// changes, so a duplicate run waits for the first one without polling.
type KeyWaiter interface {
	// KeyChanged returns a channel closed once key is completed, released or
	// taken over.
	KeyChanged(key string) <-chan struct{}
}

// The defaults of Idempotency, filled in by withDefaults.
const (
	defaultIdempotencyWindow  = 24 * time.Hour
	defaultIdempotencyLockTTL = 15 * time.Minute
)

// DeriveIdempotencyKey returns the key Idempotency uses when Key is nil:
// taskName, a colon, and the hex SHA-256 of the canonical JSON of in. It is
// exported so that a caller outside the executor (an API handler, a test)
// can compute the key a run will use.
//
// The JSON is canonical so that equal inputs give equal keys however they
// were built: object keys sorted at every depth, numbers written by value
// (1, 1.0, int64(1) and float64(1) are the same number, and integers beyond
// float64's precision keep every digit), and nil and empty inputs alike. An
// input that JSON cannot encode (a channel, a func, NaN) is an error.
func DeriveIdempotencyKey(taskName string, in Values) (string, error) {
	canon, err := canonicalJSON(in)
	if err != nil {
		return "", fmt.Errorf("derive idempotency key for %s: %w", taskName, err)
	}
	sum := sha256.Sum256(canon)
	return taskName + ":" + hex.EncodeToString(sum[:]), nil
}

// key returns the idempotency key of a run of the task taskName with inputs
// in: from i.Key when set, else DeriveIdempotencyKey. A nil i derives the
// default key, so an executor need not check whether the task set
// Idempotency. An empty key from i.Key is an error, since it would make
// every run of every task share one key.
func (i *Idempotency) key(taskName string, in Values) (string, error) {
	if i == nil || i.Key == nil {
		return DeriveIdempotencyKey(taskName, in)
	}
	k, err := i.Key(in)
	if err != nil {
		return "", fmt.Errorf("idempotency key for %s: %w", taskName, err)
	}
	if k == "" {
		return "", fmt.Errorf("idempotency key for %s: Key returned an empty key", taskName)
	}
	return k, nil
}

// withDefaults returns a copy of i with every zero setting replaced by its
// default (Window 24 hours, LockTTL 15 minutes); a nil i gives the defaults
// alone, which is what a run with WithIdempotencyKey on a task without
// Idempotency uses. Negative durations count as unset.
func (i *Idempotency) withDefaults() *Idempotency {
	var c Idempotency
	if i != nil {
		c = *i
	}
	if c.Window <= 0 {
		c.Window = defaultIdempotencyWindow
	}
	if c.LockTTL <= 0 {
		c.LockTTL = defaultIdempotencyLockTTL
	}
	return &c
}

// canonicalJSON encodes in as JSON, then rewrites it with sorted object keys
// and numbers in one form per value.
func canonicalJSON(in Values) ([]byte, error) {
	if len(in) == 0 {
		return []byte("{}"), nil
	}
	raw, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := writeCanonical(&buf, tree); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeCanonical(buf *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(v))
	case json.Number:
		buf.WriteString(canonicalNumber(v.String()))
	case string:
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		buf.Write(b)
	case []any:
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCanonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		buf.WriteByte('{')
		for i, k := range slices.Sorted(maps.Keys(v)) {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCanonical(buf, k); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := writeCanonical(buf, v[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("unexpected JSON value of type %T", v)
	}
	return nil
}

// canonicalNumber writes the JSON number lit by its exact value: integers
// without fraction or exponent, others as the shortest exact decimal. A
// literal whose exponent is too large to expand is kept as written.
func canonicalNumber(lit string) string {
	if n, err := strconv.ParseInt(lit, 10, 64); err == nil {
		return strconv.FormatInt(n, 10)
	}
	mant, exp := lit, 0
	if i := strings.IndexAny(lit, "eE"); i >= 0 {
		e, err := strconv.Atoi(lit[i+1:])
		if err != nil || e > 400 || e < -400 {
			return lit
		}
		mant, exp = lit[:i], e
	}
	r, ok := new(big.Rat).SetString(lit)
	if !ok {
		return lit
	}
	if r.IsInt() {
		return r.Num().String()
	}
	// A decimal literal with f fraction digits and exponent e needs at most
	// f-e fraction digits to be written exactly.
	frac := 0
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		frac = len(mant) - i - 1
	}
	s := r.FloatString(max(frac-exp, 1))
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
