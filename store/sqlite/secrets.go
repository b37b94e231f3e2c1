package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/loomhq/loom/internal/secretbox"
)

// ErrNoSecretKey is returned when a sealed secret is read by a Store
// opened without Config.SecretKey.
var ErrNoSecretKey = errors.New("sqlite: secrets are sealed and the store has no secret key")

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
// store had a key, once, at Open. The writer's connection deletes
// securely meanwhile and the log is checkpointed afterwards, so that the
// plain text is overwritten in the file rather than left in free space.
func (s *Store) sealStoredSecrets(ctx context.Context) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	sealed := 0
	for _, t := range secretTables {
		n, err := s.sealTable(ctx, conn, t.table, t.what)
		if err != nil {
			return fmt.Errorf("seal %s secrets: %w", t.what, err)
		}
		sealed += n
	}
	if sealed == 0 {
		return nil
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("seal secrets: checkpoint: %w", err)
	}
	return nil
}

// sealTable seals the plain secrets of one table, returning how many.
func (s *Store) sealTable(ctx context.Context, conn *sql.Conn, table, what string) (int, error) {
	if _, err := conn.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return 0, err
	}
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA secure_delete = OFF`) }()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, `SELECT name, def FROM `+table)
	if err != nil {
		return 0, err
	}
	updates := map[string][]byte{}
	for rows.Next() {
		var name string
		var def []byte
		if err := rows.Scan(&name, &def); err != nil {
			rows.Close()
			return 0, err
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(def, &fields); err != nil {
			rows.Close()
			return 0, fmt.Errorf("%s %q: %w", what, name, err)
		}
		var secret string
		if raw, ok := fields["secret"]; !ok || json.Unmarshal(raw, &secret) != nil || secret == "" || secretbox.Sealed(secret) {
			continue
		}
		enc, err := json.Marshal(s.sealSecret(secret, what, name))
		if err != nil {
			rows.Close()
			return 0, err
		}
		fields["secret"] = enc
		if updates[name], err = json.Marshal(fields); err != nil {
			rows.Close()
			return 0, err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for name, def := range updates {
		if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET def = ? WHERE name = ?`, string(def), name); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return len(updates), nil
}
