package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/loomhq/loom/store"
)

// ClaimWebhookDelivery records a signed webhook message unless a live
// record of it exists, with one statement: of two servers receiving the
// same message, one claims it; see store.TaskmasterStore.
func (s *Store) ClaimWebhookDelivery(ctx context.Context, p *store.ClaimWebhookDeliveryParams) (*store.WebhookDelivery, bool, error) {
	d := p.Delivery
	if d.Trigger == "" || d.Hash == "" {
		return nil, false, fmt.Errorf("claim webhook delivery: empty trigger or hash: %w", store.ErrInvalid)
	}
	var (
		prev    *store.WebhookDelivery
		claimed bool
	)
	err := s.write(ctx, func(tx pgx.Tx) error {
		prev, claimed = nil, false
		tag, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (trigger, hash, task_id, received, expires) VALUES ($1, $2, '', $3, $4)
			ON CONFLICT (trigger, hash) DO UPDATE SET task_id = '', received = excluded.received, expires = excluded.expires
			WHERE webhook_deliveries.expires <= $5 OR (webhook_deliveries.task_id = '' AND webhook_deliveries.received < $6)`,
			d.Trigger, d.Hash, toNanos(d.Received), toNanos(d.Expires), toNanos(p.Now), toNanos(p.StaleBefore))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			claimed = true
			return nil
		}
		var (
			got               store.WebhookDelivery
			received, expires int64
		)
		err = tx.QueryRow(ctx, `SELECT trigger, hash, task_id, received, expires FROM webhook_deliveries WHERE trigger = $1 AND hash = $2`,
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
	q, args := `UPDATE webhook_deliveries SET task_id = $3 WHERE trigger = $1 AND hash = $2`, []any{trigger, hash, taskID}
	if taskID == "" {
		q, args = `DELETE FROM webhook_deliveries WHERE trigger = $1 AND hash = $2 AND task_id = ''`, args[:2]
	}
	tag, err := s.db().Exec(ctx, q, args...)
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("finish webhook delivery to %s: %w", trigger, err)
	}
	return nil
}

// PruneWebhookDeliveries forgets expired deliveries.
func (s *Store) PruneWebhookDeliveries(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.db().Exec(ctx, `DELETE FROM webhook_deliveries WHERE expires <= $1`, toNanos(now))
	if err != nil {
		return 0, fmt.Errorf("prune webhook deliveries: %w", err)
	}
	return tag.RowsAffected(), nil
}
