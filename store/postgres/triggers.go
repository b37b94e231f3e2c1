package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/loomhq/loom/store"
)

// PutTrigger creates or replaces a trigger, keeping its Created time.
func (s *Store) PutTrigger(ctx context.Context, t *store.Trigger) (bool, error) {
	if t.Name == "" {
		return false, fmt.Errorf("put trigger: empty name: %w", store.ErrInvalid)
	}
	var (
		created bool
		c       store.Trigger
	)
	err := s.write(ctx, func(tx pgx.Tx) error {
		if err := s.lockKey(ctx, tx, "trigger "+t.Name); err != nil {
			return err
		}
		var prev *int64
		if err := tx.QueryRow(ctx, `SELECT created FROM triggers WHERE name = $1`, t.Name).Scan(&prev); err != nil && err != pgx.ErrNoRows {
			return err
		}
		c = *t
		c.Updated = now(c.Updated).UTC()
		created = prev == nil
		if created {
			c.Created = c.Updated
		} else {
			c.Created = fromNanos(*prev)
		}
		c.Secret = s.sealSecret(c.Secret, "trigger", c.Name)
		def, err := encodeJSON(c)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO triggers (name, kind, on_type, def, created, updated) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, on_type = excluded.on_type, def = excluded.def, updated = excluded.updated`,
			c.Name, c.Kind, c.OnType, def, toNanos(c.Created), toNanos(c.Updated))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("put trigger %s: %w", t.Name, err)
	}
	t.Created, t.Updated = c.Created, c.Updated
	return created, nil
}

// GetTrigger returns one trigger, or ErrNotFound.
func (s *Store) GetTrigger(ctx context.Context, name string) (*store.Trigger, error) {
	var t store.Trigger
	if err := s.getDef(ctx, "triggers", "trigger", name, &t); err != nil {
		return nil, err
	}
	if err := s.openSecret(&t.Secret, "trigger", t.Name); err != nil {
		return nil, fmt.Errorf("get trigger: %w", err)
	}
	return &t, nil
}

// ListTriggers returns every trigger, by name.
func (s *Store) ListTriggers(ctx context.Context) ([]*store.Trigger, error) {
	var out []*store.Trigger
	err := s.listDefs(ctx, "triggers", "triggers", func(def []byte) error {
		var t store.Trigger
		if err := json.Unmarshal(def, &t); err != nil {
			return err
		}
		if err := s.openSecret(&t.Secret, "trigger", t.Name); err != nil {
			return err
		}
		out = append(out, &t)
		return nil
	})
	return out, err
}

// DeleteTrigger forgets a trigger, or ErrNotFound.
func (s *Store) DeleteTrigger(ctx context.Context, name string) error {
	return s.deleteByName(ctx, "triggers", "trigger", name)
}

// PutNotifier creates or replaces a notifier, keeping its Created time.
func (s *Store) PutNotifier(ctx context.Context, n *store.Notifier) (bool, error) {
	if n.Name == "" {
		return false, fmt.Errorf("put notifier: empty name: %w", store.ErrInvalid)
	}
	var (
		created bool
		c       store.Notifier
	)
	err := s.write(ctx, func(tx pgx.Tx) error {
		if err := s.lockKey(ctx, tx, "notifier "+n.Name); err != nil {
			return err
		}
		var prev *int64
		if err := tx.QueryRow(ctx, `SELECT created FROM notifiers WHERE name = $1`, n.Name).Scan(&prev); err != nil && err != pgx.ErrNoRows {
			return err
		}
		c = *n
		created = prev == nil
		if created {
			c.Created = now(c.Created).UTC()
		} else {
			c.Created = fromNanos(*prev)
		}
		c.Secret = s.sealSecret(c.Secret, "notifier", c.Name)
		def, err := encodeJSON(c)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO notifiers (name, def, created) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET def = excluded.def`, c.Name, def, toNanos(c.Created))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("put notifier %s: %w", n.Name, err)
	}
	n.Created = c.Created
	return created, nil
}

// GetNotifier returns one notifier, or ErrNotFound.
func (s *Store) GetNotifier(ctx context.Context, name string) (*store.Notifier, error) {
	var n store.Notifier
	if err := s.getDef(ctx, "notifiers", "notifier", name, &n); err != nil {
		return nil, err
	}
	if err := s.openSecret(&n.Secret, "notifier", n.Name); err != nil {
		return nil, fmt.Errorf("get notifier: %w", err)
	}
	return &n, nil
}

// ListNotifiers returns every notifier, by name.
func (s *Store) ListNotifiers(ctx context.Context) ([]*store.Notifier, error) {
	var out []*store.Notifier
	err := s.listDefs(ctx, "notifiers", "notifiers", func(def []byte) error {
		var n store.Notifier
		if err := json.Unmarshal(def, &n); err != nil {
			return err
		}
		if err := s.openSecret(&n.Secret, "notifier", n.Name); err != nil {
			return err
		}
		out = append(out, &n)
		return nil
	})
	return out, err
}

// DeleteNotifier forgets a notifier and abandons its pending deliveries,
// in one transaction.
func (s *Store) DeleteNotifier(ctx context.Context, name string) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM notifiers WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("notifier %q: %w", name, store.ErrNotFound)
		}
		_, err = tx.Exec(ctx, `UPDATE deliveries SET status = $1, last_error = 'notifier deleted'
			WHERE notifier = $2 AND status = $3`, store.DeliveryFailed, name, store.DeliveryPending)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete notifier %s: %w", name, err)
	}
	return nil
}
