package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/loomhq/loom/internal/secretbox"
)

// secretKeyEnv is the variable that holds the server's secret key, as 64
// hex digits or standard base64, in place of a key file.
const secretKeyEnv = "LOOM_SECRET_KEY"

// secretKey returns the key that seals trigger and notifier secrets in
// the database at dbPath: $LOOM_SECRET_KEY when set, else the file path
// (default dbPath + ".key"), created on first start with 32 random bytes,
// readable by its owner only.
func (m *Main) secretKey(dbPath, path string) ([]byte, error) {
	if v := strings.TrimSpace(m.Getenv(secretKeyEnv)); v != "" {
		key, err := hex.DecodeString(v)
		if err != nil {
			key, err = base64.StdEncoding.DecodeString(v)
		}
		if err != nil || len(key) != secretbox.KeySize {
			return nil, &usageError{fmt.Errorf("$%s must be %d bytes as hex or base64", secretKeyEnv, secretbox.KeySize)}
		}
		return key, nil
	}
	if path == "" {
		path = dbPath + ".key"
	}
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createSecretKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	if len(key) != secretbox.KeySize {
		return nil, fmt.Errorf("secret key %s: %d bytes, want %d", path, len(key), secretbox.KeySize)
	}
	return key, nil
}

// createSecretKey writes a new random key to path, failing rather than
// replacing a file another process created meanwhile.
func createSecretKey(path string) ([]byte, error) {
	key := make([]byte, secretbox.KeySize)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("create secret key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("create secret key %s: %w", path, err)
	}
	return key, nil
}
