// Package secretbox seals the secrets loom keeps in its database (trigger
// and notifier secrets) with AES-256-GCM under a server key, so that the
// database file, its backups and its copies hold none of them in plain
// text. They are sealed, not hashed: an HMAC signature is checked, and
// made, with the secret itself.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of a key in bytes: AES-256.
const KeySize = 32

// prefix starts every sealed value, naming the scheme so that a later one
// can be told apart.
const prefix = "enc:v1:"

// ErrOpen is wrapped when a sealed value does not open: another key, or a
// value changed or moved to another record.
var ErrOpen = errors.New("secretbox: sealed value does not open with this key")

// Box seals and opens values under one key. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for key, which must be KeySize bytes.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Sealed reports whether v is a sealed value.
func Sealed(v string) bool { return strings.HasPrefix(v, prefix) }

// Seal returns plaintext sealed under a fresh random nonce, bound to
// where: the same value opens only with the same where (the record it
// belongs to, such as "trigger gh"). An empty plaintext stays empty.
func (b *Box) Seal(plaintext, where string) string {
	if plaintext == "" {
		return ""
	}
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails
	sealed := b.aead.Seal(nonce, nonce, []byte(plaintext), []byte(where))
	return prefix + base64.RawURLEncoding.EncodeToString(sealed)
}

// Open returns the plaintext of a value Seal made for where. A value that
// is not sealed is returned as it is, so that secrets stored before
// sealing keep working until they are sealed.
func (b *Box) Open(v, where string) (string, error) {
	if !Sealed(v) {
		return v, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(v[len(prefix):])
	if err != nil || len(raw) < b.aead.NonceSize() {
		return "", fmt.Errorf("%s: %w", where, ErrOpen)
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(where))
	if err != nil {
		return "", fmt.Errorf("%s: %w", where, ErrOpen)
	}
	return string(plain), nil
}
