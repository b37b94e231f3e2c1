package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// AcquireKey takes key for runID; see loom.IdempotencyStore. The run that
// already holds the key takes it again (its lock is renewed), so a
// re-delivered run never waits for itself. Runs acquiring one key take
// turns, whichever process they run in.
func (s *Store) AcquireKey(ctx context.Context, key, runID string, at time.Time, lockTTL time.Duration) (loom.IdempotencyRecord, bool, error) {
	if key == "" {
		return loom.IdempotencyRecord{}, false, fmt.Errorf("acquire idempotency key: empty key: %w", store.ErrInvalid)
	}
	var (
		rec      loom.IdempotencyRecord
		acquired bool
	)
	err := s.write(ctx, func(tx pgx.Tx) error {
		acquired = false
		if err := s.lockKey(ctx, tx, "idempotency "+key); err != nil {
			return err
		}
		cur, found, err := loadKey(ctx, tx, key)
		if err != nil {
			return err
		}
		if found {
			held := cur.Status == loom.StatusRunning && cur.LockedUntil.After(at) && cur.RunID != runID
			remembered := cur.Status != loom.StatusRunning && cur.ExpiresAt.After(at)
			if held || remembered {
				rec = cur
				return nil
			}
		}
		rec = loom.IdempotencyRecord{
			Key:         key,
			Status:      loom.StatusRunning,
			RunID:       runID,
			LockedUntil: utc(at.Add(lockTTL)),
			ExpiresAt:   utc(at.Add(lockTTL)),
		}
		_, err = tx.Exec(ctx, `INSERT INTO idempotency_keys (key, status, run_id, result, locked_until, expires_at)
			VALUES ($1, $2, $3, NULL, $4, $5)
			ON CONFLICT (key) DO UPDATE SET status = excluded.status, run_id = excluded.run_id, result = NULL,
				locked_until = excluded.locked_until, expires_at = excluded.expires_at`,
			key, string(rec.Status), runID, toNanos(rec.LockedUntil), toNanos(rec.ExpiresAt))
		if err != nil {
			return err
		}
		acquired = true
		return nil
	})
	if err != nil {
		return loom.IdempotencyRecord{}, false, fmt.Errorf("acquire idempotency key %q: %w", key, err)
	}
	return rec, acquired, nil
}

func loadKey(ctx context.Context, tx pgx.Tx, key string) (loom.IdempotencyRecord, bool, error) {
	var (
		rec               loom.IdempotencyRecord
		status            string
		result            *string
		locked, expiresAt int64
	)
	err := tx.QueryRow(ctx, `SELECT status, run_id, result, locked_until, expires_at
		FROM idempotency_keys WHERE key = $1`, key).Scan(&status, &rec.RunID, &result, &locked, &expiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, err
	}
	rec.Key = key
	rec.Status = loom.Status(status)
	rec.LockedUntil = fromNanos(locked)
	rec.ExpiresAt = fromNanos(expiresAt)
	if result != nil {
		rec.Result = new(loom.Result)
		if err := json.Unmarshal([]byte(*result), rec.Result); err != nil {
			return rec, false, fmt.Errorf("decode result: %w", err)
		}
	}
	return rec, true, nil
}

// CompleteKey records result for key until expires, whether or not the
// key is still held (a run that outlived its lock still records what it
// did). The record's Status is the result's (completed when empty); an
// error's text is kept in Message.
func (s *Store) CompleteKey(ctx context.Context, key string, result *loom.Result, expires time.Time) error {
	if key == "" {
		return fmt.Errorf("complete idempotency key: empty key: %w", store.ErrInvalid)
	}
	r := loom.Result{Status: loom.StatusCompleted}
	if result != nil {
		r = *result
	}
	if r.Status == "" {
		r.Status = loom.StatusCompleted
	}
	if r.Message == "" && r.Err != nil {
		r.Message = r.Err.Error()
	}
	data, err := encodeJSON(r)
	if err != nil {
		return fmt.Errorf("complete idempotency key %q: %w", key, err)
	}
	_, err = s.db().Exec(ctx, `INSERT INTO idempotency_keys (key, status, run_id, result, locked_until, expires_at)
		VALUES ($1, $2, $3, $4, 0, $5)
		ON CONFLICT (key) DO UPDATE SET status = excluded.status, result = excluded.result,
			locked_until = 0, expires_at = excluded.expires_at`,
		key, string(r.Status), r.RunID, data, toNanos(expires))
	if err != nil {
		return fmt.Errorf("complete idempotency key %q: %w", key, err)
	}
	return nil
}

// ReleaseKey forgets key; releasing a key that is not held is no error.
func (s *Store) ReleaseKey(ctx context.Context, key string) error {
	if _, err := s.db().Exec(ctx, `DELETE FROM idempotency_keys WHERE key = $1`, key); err != nil {
		return fmt.Errorf("release idempotency key %q: %w", key, err)
	}
	return nil
}
