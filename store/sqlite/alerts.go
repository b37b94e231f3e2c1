package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/loomhq/loom/store"
)

const alertColumns = `id, key, kind, subject, message, data, opened, resolved, resolve_message`

const deliveryColumns = `id, alert_id, notifier, event, status, attempts, next_at, last_code, last_error, created, updated`

// OpenAlert opens an alert unless its key is open; see
// store.TaskmasterStore.
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
	err = s.write(ctx, func(tx *sql.Tx) error {
		out, err = scanAlert(tx.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE key = ? AND resolved IS NULL`, a.Key))
		switch {
		case err == nil:
			return setCursor(ctx, tx, p.Cursor)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO alerts (key, kind, subject, message, data, opened) VALUES (?, ?, ?, ?, ?, ?)`,
			a.Key, a.Kind, a.Subject, a.Message, data, toNanos(a.Opened))
		if err != nil {
			return err
		}
		if a.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		for _, n := range p.Notify {
			if err := insertDelivery(ctx, tx, a.ID, n, "opened", a.Opened); err != nil {
				return err
			}
		}
		opened, out = true, &a
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		a, err := scanAlert(tx.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE key = ? AND resolved IS NULL`, p.Key))
		if errors.Is(err, sql.ErrNoRows) {
			return setCursor(ctx, tx, p.Cursor)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE alerts SET resolved = ?, resolve_message = ? WHERE id = ?`,
			toNanos(at), p.Message, a.ID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT notifier FROM deliveries WHERE alert_id = ? AND event = 'opened'`, a.ID)
		if err != nil {
			return err
		}
		var notifiers []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			notifiers = append(notifiers, n)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, n := range notifiers {
			if err := insertDelivery(ctx, tx, a.ID, n, "resolved", at); err != nil {
				return err
			}
		}
		a.Resolved, a.ResolveMessage = &at, p.Message
		out = a
		return setCursor(ctx, tx, p.Cursor)
	})
	if err != nil {
		return nil, false, fmt.Errorf("resolve alert %s: %w", p.Key, err)
	}
	return out, out != nil, nil
}

func insertDelivery(ctx context.Context, tx *sql.Tx, alertID int64, notifier, event string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO deliveries (alert_id, notifier, event, status, next_at, created, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, alertID, notifier, event, store.DeliveryPending, toNanos(at), toNanos(at), toNanos(at))
	return err
}

// GetAlert returns one alert, or ErrNotFound.
func (s *Store) GetAlert(ctx context.Context, id int64) (*store.Alert, error) {
	var out *store.Alert
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanAlert(tx.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("alert %d: %w", id, store.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get alert: %w", err)
	}
	return out, nil
}

// ListAlerts returns alerts, newest first.
func (s *Store) ListAlerts(ctx context.Context, p *store.ListAlertsParams) ([]*store.Alert, error) {
	q := `SELECT ` + alertColumns + ` FROM alerts`
	if p.OpenOnly {
		q += ` WHERE resolved IS NULL`
	}
	q += ` ORDER BY opened DESC, id DESC LIMIT ?`
	var out []*store.Alert
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = queryAll(ctx, tx, scanAlert, q, limitOr(p.Limit, 100))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	return out, nil
}

// DueDeliveries returns pending deliveries whose NextAt has come.
func (s *Store) DueDeliveries(ctx context.Context, at time.Time, limit int) ([]*store.Delivery, error) {
	return s.listDeliveries(ctx, `WHERE status = ? AND next_at <= ? ORDER BY next_at, id LIMIT ?`,
		store.DeliveryPending, toNanos(now(at)), limitOr(limit, 100))
}

// NextDeliveryAt is the earliest NextAt of a pending delivery.
func (s *Store) NextDeliveryAt(ctx context.Context) (time.Time, bool, error) {
	var at sql.NullInt64
	err := s.read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT min(next_at) FROM deliveries WHERE status = ?`, store.DeliveryPending).Scan(&at)
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next delivery: %w", err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return fromNanos(at.Int64), true, nil
}

// UpdateDelivery records the result of a delivery attempt.
func (s *Store) UpdateDelivery(ctx context.Context, d *store.Delivery) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = ?, attempts = ?, next_at = ?, last_code = ?, last_error = ?, updated = ?
			WHERE id = ?`, d.Status, d.Attempts, toNanos(d.NextAt), d.LastCode, d.LastError, toNanos(now(d.Updated)), d.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("delivery %d: %w", d.ID, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update delivery: %w", err)
	}
	return nil
}

// ListDeliveries returns deliveries, newest first.
func (s *Store) ListDeliveries(ctx context.Context, p *store.ListDeliveriesParams) ([]*store.Delivery, error) {
	if p.AlertID != 0 {
		return s.listDeliveries(ctx, `WHERE alert_id = ? ORDER BY id DESC LIMIT ?`, p.AlertID, limitOr(p.Limit, 100))
	}
	return s.listDeliveries(ctx, `ORDER BY id DESC LIMIT ?`, limitOr(p.Limit, 100))
}

func (s *Store) listDeliveries(ctx context.Context, where string, args ...any) ([]*store.Delivery, error) {
	var out []*store.Delivery
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = queryAll(ctx, tx, scanDelivery, `SELECT `+deliveryColumns+` FROM deliveries `+where, args...)
		return err
	})
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
		data     sql.NullString
		opened   int64
		resolved sql.NullInt64
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
	err := s.read(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT seq FROM taskmaster_cursors WHERE name = ?`, name).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("get cursor %s: %w", name, err)
	}
	return seq, nil
}

// SetCursor stores a reader's position; an older one is ignored.
func (s *Store) SetCursor(ctx context.Context, c store.Cursor) error {
	if err := s.write(ctx, func(tx *sql.Tx) error { return setCursor(ctx, tx, &c) }); err != nil {
		return fmt.Errorf("set cursor %s: %w", c.Name, err)
	}
	return nil
}

func setCursor(ctx context.Context, tx *sql.Tx, c *store.Cursor) error {
	if c == nil {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO taskmaster_cursors (name, seq) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET seq = max(seq, excluded.seq)`, c.Name, c.Seq)
	return err
}
