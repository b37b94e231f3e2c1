package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/loomhq/loom/store"
)

// ClaimWebhookDelivery records a signed webhook message unless a live
// record of it exists; see store.TaskmasterStore.
func (s *Store) ClaimWebhookDelivery(ctx context.Context, p *store.ClaimWebhookDeliveryParams) (*store.WebhookDelivery, bool, error) {
	d := p.Delivery
	if d.Trigger == "" || d.Hash == "" {
		return nil, false, fmt.Errorf("claim webhook delivery: empty trigger or hash: %w", store.ErrInvalid)
	}
	var prev *store.WebhookDelivery
	claimed := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (trigger, hash, task_id, received, expires) VALUES (?, ?, '', ?, ?)
			ON CONFLICT (trigger, hash) DO UPDATE SET task_id = '', received = excluded.received, expires = excluded.expires
			WHERE webhook_deliveries.expires <= ? OR (webhook_deliveries.task_id = '' AND webhook_deliveries.received < ?)`,
			d.Trigger, d.Hash, toNanos(d.Received), toNanos(d.Expires), toNanos(p.Now), toNanos(p.StaleBefore))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			claimed = err == nil
			return err
		}
		var got store.WebhookDelivery
		var received, expires int64
		err = tx.QueryRowContext(ctx, `SELECT trigger, hash, task_id, received, expires FROM webhook_deliveries WHERE trigger = ? AND hash = ?`,
			d.Trigger, d.Hash).Scan(&got.Trigger, &got.Hash, &got.TaskID, &received, &expires)
		if err != nil {
			return err
		}
		got.Received, got.Expires = fromNanos(received), fromNanos(expires)
		prev = &got
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("claim webhook delivery to %s: %w", d.Trigger, err)
	}
	return prev, claimed, nil
}

// FinishWebhookDelivery records the task a claimed delivery started, or
// forgets the claim when taskID is empty.
func (s *Store) FinishWebhookDelivery(ctx context.Context, trigger, hash, taskID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		if taskID == "" {
			res, err = tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE trigger = ? AND hash = ? AND task_id = ''`, trigger, hash)
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET task_id = ? WHERE trigger = ? AND hash = ?`, taskID, trigger, hash)
		}
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("finish webhook delivery to %s: %w", trigger, err)
	}
	return nil
}

// PruneWebhookDeliveries forgets expired deliveries.
func (s *Store) PruneWebhookDeliveries(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE expires <= ?`, toNanos(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune webhook deliveries: %w", err)
	}
	return n, nil
}
