package sqlite

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"
)

// Config says where the database lives and how it trades durability for
// speed. Zero values mean the defaults stated on each field.
type Config struct {
	// Path is the database file; it is created when missing. Required.
	// In-memory databases are not supported, because the reader and
	// writer pools must see the same data.
	Path string
	// Synchronous is SQLite's synchronous setting: "NORMAL" (the default)
	// is safe against corruption in WAL mode but may lose the last
	// transactions on power loss; "FULL" syncs every commit and is several
	// times slower.
	Synchronous string
	// BusyTimeout is how long a connection waits for a lock held by
	// another process before failing. Default 5s.
	BusyTimeout time.Duration
	// MaxOpenConns is the size of the reader pool. Writes always go
	// through one connection. Default the number of CPUs, at least 4.
	MaxOpenConns int
	// SecretKey, when set, seals the secrets of triggers and notifiers
	// with AES-256-GCM before they are written (package
	// internal/secretbox); secrets stored in plain text before are sealed
	// at Open. It must be 32 bytes. Without it secrets are stored as they
	// are, and a sealed one cannot be read (ErrNoSecretKey).
	SecretKey []byte
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Synchronous == "" {
		c.Synchronous = "NORMAL"
	}
	c.Synchronous = strings.ToUpper(c.Synchronous)
	if c.BusyTimeout == 0 {
		c.BusyTimeout = 5 * time.Second
	}
	if c.MaxOpenConns == 0 {
		c.MaxOpenConns = max(4, runtime.NumCPU())
	}
	return c
}

// validate reports what is wrong with a Config whose defaults are filled.
func (c Config) validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("Path is required"))
	}
	if c.Path == ":memory:" || strings.Contains(c.Path, "mode=memory") {
		errs = append(errs, errors.New("in-memory databases are not supported: use a file"))
	}
	if strings.ContainsAny(c.Path, "?#") {
		errs = append(errs, fmt.Errorf("Path %q must not contain '?' or '#'", c.Path))
	}
	if c.Synchronous != "NORMAL" && c.Synchronous != "FULL" {
		errs = append(errs, fmt.Errorf("Synchronous %q must be NORMAL or FULL", c.Synchronous))
	}
	if c.BusyTimeout < 0 {
		errs = append(errs, fmt.Errorf("BusyTimeout %s must not be negative", c.BusyTimeout))
	}
	if c.SecretKey != nil && len(c.SecretKey) != 32 {
		errs = append(errs, fmt.Errorf("SecretKey is %d bytes, want 32", len(c.SecretKey)))
	}
	if c.MaxOpenConns < 0 {
		errs = append(errs, fmt.Errorf("MaxOpenConns %d must not be negative", c.MaxOpenConns))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite config: %w", err)
	}
	return nil
}
