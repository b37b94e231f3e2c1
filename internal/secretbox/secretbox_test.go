package secretbox_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/loomhq/loom/internal/secretbox"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, secretbox.KeySize)
	b, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := b.Seal("s3cret", "trigger gh"), b.Seal("s3cret", "trigger gh")
	if !secretbox.Sealed(s1) || strings.Contains(s1, "s3cret") || s1 == s2 {
		t.Fatalf("sealed %q and %q: want sealed, without the plaintext, each with its own nonce", s1, s2)
	}
	if got, err := b.Open(s1, "trigger gh"); err != nil || got != "s3cret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := b.Open(s1, "trigger other"); !errors.Is(err, secretbox.ErrOpen) {
		t.Errorf("Open for another record = %v, want ErrOpen", err)
	}
	other, _ := secretbox.New(bytes.Repeat([]byte{8}, secretbox.KeySize))
	if _, err := other.Open(s1, "trigger gh"); !errors.Is(err, secretbox.ErrOpen) {
		t.Errorf("Open with another key = %v, want ErrOpen", err)
	}
	if _, err := b.Open(s1[:len(s1)-2], "trigger gh"); !errors.Is(err, secretbox.ErrOpen) {
		t.Errorf("Open of a cut value = %v, want ErrOpen", err)
	}
	if got, err := b.Open("plain", "trigger gh"); err != nil || got != "plain" {
		t.Errorf("Open of a plain value = %q, %v", got, err)
	}
	if b.Seal("", "x") != "" {
		t.Error("an empty secret was sealed")
	}
	if _, err := secretbox.New(key[:16]); err == nil {
		t.Error("New accepted a 16-byte key")
	}
}
