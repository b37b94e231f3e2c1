package postgres

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/loomhq/loom/internal/secretbox"
)

// Config says which database to use and how. Zero values mean the
// defaults stated on each field.
type Config struct {
	// URL is the connection string, "postgres://user@host:5432/db?...";
	// any option pgx understands may be given. Required.
	URL string
	// Schema keeps every table of loom; it is created when missing.
	// Default the first schema of the URL's search_path, else "public".
	Schema string
	// MaxConns is the size of the connection pool. Default the URL's
	// pool_max_conns, else pgx's default (at least 4); never below 2,
	// because opening holds one connection for the migration lock while
	// migrating on another.
	MaxConns int32
	// Logger receives what the Store cannot return to a caller: a lost
	// LISTEN connection that ListenForWork makes again. Default
	// slog.Default().
	Logger *slog.Logger
	// SecretKey, when set, seals the secrets of triggers and notifiers
	// with AES-256-GCM before they are written (package
	// internal/secretbox); secrets stored in plain text before are sealed
	// at Open. It must be 32 bytes. Without it secrets are stored as they
	// are, and a sealed one cannot be read (ErrNoSecretKey).
	SecretKey []byte
}

// validate reports what is wrong with c.
func (c Config) validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("URL is required"))
	}
	if c.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("MaxConns %d must not be negative", c.MaxConns))
	}
	if c.SecretKey != nil && len(c.SecretKey) != secretbox.KeySize {
		errs = append(errs, fmt.Errorf("SecretKey is %d bytes, want %d", len(c.SecretKey), secretbox.KeySize))
	}
	if strings.ContainsRune(c.Schema, 0) {
		errs = append(errs, fmt.Errorf("Schema %q must not contain NUL", c.Schema))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("postgres config: %w", err)
	}
	return nil
}

// schemaFrom is the first schema of a search_path setting, unquoted.
func schemaFrom(searchPath string) string {
	first, _, _ := strings.Cut(searchPath, ",")
	first = strings.TrimSpace(first)
	if len(first) >= 2 && first[0] == '"' && first[len(first)-1] == '"' {
		first = strings.ReplaceAll(first[1:len(first)-1], `""`, `"`)
	}
	return first
}
