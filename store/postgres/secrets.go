package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/loomhq/loom/internal/secretbox"
)

// ErrNoSecretKey is returned when a sealed secret is read by a Store
// opened without Config.SecretKey.
var ErrNoSecretKey = errors.New("postgres: secrets are sealed and the store has no secret key")

// secretTables are the tables whose definitions carry a "secret", with
// what their records are called where a sealed secret is bound.
var secretTables = []struct{ table, what string }{{"triggers", "trigger"}, {"notifiers", "notifier"}}

// sealSecret seals a record's secret for storing, when the store has a key.
func (s *Store) sealSecret(secret, what, name string) string {
	if s.box == nil {
		return secret
	}
	return s.box.Seal(secret, what+" "+name)
}

// openSecret replaces a sealed secret read from a record by its plain text.
func (s *Store) openSecret(secret *string, what, name string) error {
	if !secretbox.Sealed(*secret) {
		return nil
	}
	if s.box == nil {
		return fmt.Errorf("%s %q: %w", what, name, ErrNoSecretKey)
	}
	plain, err := s.box.Open(*secret, what+" "+name)
	if err != nil {
		return err
	}
	*secret = plain
	return nil
}

// sealStoredSecrets seals the secrets stored in plain text before the
// store had a key, at Open. The tables are then rewritten (VACUUM FULL,
// cheap for a few rows), so that the plain text does not stay behind in
// the old row versions; the write-ahead log still holds it until the
// database recycles it.
func (s *Store) sealStoredSecrets(ctx context.Context) error {
	for _, t := range secretTables {
		n, err := s.sealTable(ctx, t.table, t.what)
		if err != nil {
			return fmt.Errorf("seal %s secrets: %w", t.what, err)
		}
		if n == 0 {
			continue
		}
		if _, err := s.pool.Exec(ctx, `VACUUM FULL `+pgx.Identifier{t.table}.Sanitize()); err != nil {
			return fmt.Errorf("seal %s secrets: vacuum: %w", t.what, err)
		}
	}
	return nil
}

// sealTable seals the plain secrets of one table, returning how many.
func (s *Store) sealTable(ctx context.Context, table, what string) (int, error) {
	var n int
	err := s.write(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT name, def FROM `+table+` FOR UPDATE`)
		if err != nil {
			return err
		}
		updates := map[string][]byte{}
		for rows.Next() {
			var (
				name string
				def  []byte
			)
			if err := rows.Scan(&name, &def); err != nil {
				rows.Close()
				return err
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(def, &fields); err != nil {
				rows.Close()
				return fmt.Errorf("%s %q: %w", what, name, err)
			}
			var secret string
			if raw, ok := fields["secret"]; !ok || json.Unmarshal(raw, &secret) != nil || secret == "" || secretbox.Sealed(secret) {
				continue
			}
			enc, err := json.Marshal(s.sealSecret(secret, what, name))
			if err != nil {
				rows.Close()
				return err
			}
			fields["secret"] = enc
			if updates[name], err = json.Marshal(fields); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for name, def := range updates {
			if _, err := tx.Exec(ctx, `UPDATE `+table+` SET def = $1 WHERE name = $2`, string(def), name); err != nil {
				return err
			}
		}
		n = len(updates)
		return nil
	})
	return n, err
}
