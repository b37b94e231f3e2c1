package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/loomhq/loom/store"
)

const alertColumns = `id, key, kind, subject, message, data, opened, resolved, resolve_message`

const deliveryColumns = `id, alert_id, notifier, event, status, attempts, next_at, last_code, last_error, created, updated`

// OpenAlert opens an alert unless its key is open; see
// store.TaskmasterStore. Openings of one key take turns.
func (s *Store) OpenAlert(ctx context.Context, p *store.OpenAlertParams) (*store.Alert, bool, error) {
	a := p.Alert
	if a.Key == "" || a.Kind == "" {
		return nil, false, fmt.Errorf("open alert: key and kind are required: %w", store.ErrInvalid)
	}
	a.Opened = now(a.Opened).UTC()
	data, err := encodeMap(a.Data)
	if err != nil {
		return nil, false, fmt.Errorf("open alert %s: %w", a.Key, err)
	}
	var (
		out    *store.Alert
		opened bool
	)
	err = s.write(ctx, func(tx pgx.Tx) error {
		opened = false
		if err := s.lockKey(ctx, tx, "alert "+a.Key); err != nil {
			return err
		}
		var err error
		out, err = scanAlert(tx.QueryRow(ctx, `SELECT `+alertColumns+` FROM alerts WHERE key = $1 AND resolved IS NULL`, a.Key))
		switch {
		case err == nil:
			return setCursor(ctx, tx, p.Cursor)
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		n := a
		if err := tx.QueryRow(ctx, `INSERT INTO alerts (key, kind, subject, message, data, opened) VALUES ($1, $2, $3, $4, $5, $6)
			RETURNING id`, a.Key, a.Kind, a.Subject, a.Message, data, toNanos(a.Opened)).Scan(&n.ID); err != nil {
			return err
		}
		if err := insertDeliveries(ctx, tx, n.ID, p.Notify, "opened", a.Opened); err != nil {
			return err
		}
		opened, out = true, &n
		return setCursor(ctx, tx, p.Cursor)
	})
	if err != nil {
		return nil, false, fmt.Errorf("open alert %s: %w", a.Key, err)
	}
	return out, opened, nil
}

// ResolveAlert resolves the open alert with Key; see
// store.TaskmasterStore.
func (s *Store) ResolveAlert(ctx context.Context, p *store.ResolveAlertParams) (*store.Alert, bool, error) {
	at := now(p.Now).UTC()
	var out *store.Alert
	err := s.write(ctx, func(tx pgx.Tx) error {
		out = nil
		a, err := scanAlert(tx.QueryRow(ctx, `UPDATE alerts SET resolved = $1, resolve_message = $2
			WHERE key = $3 AND resolved IS NULL RETURNING `+alertColumns, toNanos(at), p.Message, p.Key))
		if errors.Is(err, pgx.ErrNoRows) {
			return setCursor(ctx, tx, p.Cursor)
		}
		if err != nil {
			return err
		}
		notifiers, err := queryAll(ctx, tx, func(sc scanner) (string, error) {
			var n string
			return n, sc.Scan(&n)
		}, `SELECT DISTINCT notifier FROM deliveries WHERE alert_id = $1 AND event = 'opened' ORDER BY notifier`, a.ID)
		if err != nil {
			return err
		}
		if err := insertDeliveries(ctx, tx, a.ID, notifiers, "resolved", at); err != nil {
			return err
		}
		out = a
		return setCursor(ctx, tx, p.Cursor)
	})
	if err != nil {
		return nil, false, fmt.Errorf("resolve alert %s: %w", p.Key, err)
	}
	return out, out != nil, nil
}

// insertDeliveries queues a pending delivery of the alert's event to each
// notifier, in order.
func insertDeliveries(ctx context.Context, tx pgx.Tx, alertID int64, notifiers []string, event string, at time.Time) error {
	if len(notifiers) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO deliveries (alert_id, notifier, event, status, next_at, created, updated)
		SELECT $1, notifier, $3, $4, $5, $5, $5 FROM unnest($2::text[]) WITH ORDINALITY AS v(notifier, ord) ORDER BY ord`,
		alertID, notifiers, event, store.DeliveryPending, toNanos(at))
	return err
}

// GetAlert returns one alert, or ErrNotFound.
func (s *Store) GetAlert(ctx context.Context, id int64) (*store.Alert, error) {
	out, err := scanAlert(s.db().QueryRow(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("get alert: alert %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get alert %d: %w", id, err)
	}
	return out, nil
}

// ListAlerts returns alerts, newest first.
func (s *Store) ListAlerts(ctx context.Context, p *store.ListAlertsParams) ([]*store.Alert, error) {
	q := `SELECT ` + alertColumns + ` FROM alerts`
	if p.OpenOnly {
		q += ` WHERE resolved IS NULL`
	}
	q += ` ORDER BY opened DESC, id DESC LIMIT $1`
	out, err := queryAll(ctx, s.db(), scanAlert, q, limitOr(p.Limit, 100))
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	return out, nil
}

// DueDeliveries returns pending deliveries whose NextAt has come.
func (s *Store) DueDeliveries(ctx context.Context, at time.Time, limit int) ([]*store.Delivery, error) {
	return s.listDeliveries(ctx, `WHERE status = $1 AND next_at <= $2 ORDER BY next_at, id LIMIT $3`,
		store.DeliveryPending, toNanos(now(at)), limitOr(limit, 100))
}

// NextDeliveryAt is the earliest NextAt of a pending delivery.
func (s *Store) NextDeliveryAt(ctx context.Context) (time.Time, bool, error) {
	var at *int64
	if err := s.db().QueryRow(ctx, `SELECT min(next_at) FROM deliveries WHERE status = $1`, store.DeliveryPending).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("next delivery: %w", err)
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return fromNanos(*at), true, nil
}

// UpdateDelivery records the result of a delivery attempt.
func (s *Store) UpdateDelivery(ctx context.Context, d *store.Delivery) error {
	tag, err := s.db().Exec(ctx, `UPDATE deliveries SET status = $1, attempts = $2, next_at = $3, last_code = $4, last_error = $5, updated = $6
		WHERE id = $7`, d.Status, d.Attempts, toNanos(d.NextAt), d.LastCode, d.LastError, toNanos(now(d.Updated)), d.ID)
	if err != nil {
		return fmt.Errorf("update delivery %d: %w", d.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("update delivery: delivery %d: %w", d.ID, store.ErrNotFound)
	}
	return nil
}

// ListDeliveries returns deliveries, newest first.
func (s *Store) ListDeliveries(ctx context.Context, p *store.ListDeliveriesParams) ([]*store.Delivery, error) {
	if p.AlertID != 0 {
		return s.listDeliveries(ctx, `WHERE alert_id = $1 ORDER BY id DESC LIMIT $2`, p.AlertID, limitOr(p.Limit, 100))
	}
	return s.listDeliveries(ctx, `ORDER BY id DESC LIMIT $1`, limitOr(p.Limit, 100))
}

func (s *Store) listDeliveries(ctx context.Context, where string, args ...any) ([]*store.Delivery, error) {
	out, err := queryAll(ctx, s.db(), scanDelivery, `SELECT `+deliveryColumns+` FROM deliveries `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// scanDelivery reads one row of deliveryColumns.
func scanDelivery(sc scanner) (*store.Delivery, error) {
	var (
		d                        store.Delivery
		nextAt, created, updated int64
	)
	if err := sc.Scan(&d.ID, &d.AlertID, &d.Notifier, &d.Event, &d.Status, &d.Attempts, &nextAt,
		&d.LastCode, &d.LastError, &created, &updated); err != nil {
		return nil, err
	}
	d.NextAt, d.Created, d.Updated = fromNanos(nextAt), fromNanos(created), fromNanos(updated)
	return &d, nil
}

func scanAlert(sc scanner) (*store.Alert, error) {
	var (
		a        store.Alert
		data     *string
		opened   int64
		resolved *int64
	)
	if err := sc.Scan(&a.ID, &a.Key, &a.Kind, &a.Subject, &a.Message, &data, &opened, &resolved, &a.ResolveMessage); err != nil {
		return nil, err
	}
	var err error
	if a.Data, err = decodeMap(data); err != nil {
		return nil, fmt.Errorf("alert %d: %w", a.ID, err)
	}
	a.Opened = fromNanos(opened)
	a.Resolved = ptrTime(resolved)
	return &a, nil
}

func limitOr(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

// GetCursor returns the stored position of event-log reader name.
func (s *Store) GetCursor(ctx context.Context, name string) (int64, error) {
	var seq int64
	err := s.db().QueryRow(ctx, `SELECT seq FROM taskmaster_cursors WHERE name = $1`, name).Scan(&seq)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("get cursor %s: %w", name, err)
	}
	return seq, nil
}

// SetCursor stores a reader's position; an older one is ignored.
func (s *Store) SetCursor(ctx context.Context, c store.Cursor) error {
	if err := s.write(ctx, func(tx pgx.Tx) error { return setCursor(ctx, tx, &c) }); err != nil {
		return fmt.Errorf("set cursor %s: %w", c.Name, err)
	}
	return nil
}

func setCursor(ctx context.Context, tx pgx.Tx, c *store.Cursor) error {
	if c == nil {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO taskmaster_cursors (name, seq) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET seq = greatest(taskmaster_cursors.seq, excluded.seq)`, c.Name, c.Seq)
	return err
}
