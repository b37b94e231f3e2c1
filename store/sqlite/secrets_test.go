package sqlite_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom/internal/secretbox"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/sqlite"
)

const (
	triggerSecret  = "trigger-secret-4f1c9a"
	notifierSecret = "notifier-secret-77b2e0"
)

// filesHold reports whether any file of the database directory holds s.
func filesHold(t *testing.T, dir, s string) bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

func openAt(t *testing.T, path string, key []byte) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: path, SecretKey: key})
	require.NoError(t, err)
	return st
}

func putSecrets(t *testing.T, st *sqlite.Store) {
	t.Helper()
	_, err := st.PutTrigger(t.Context(), &store.Trigger{Name: "gh", Kind: store.TriggerEvent, Secret: triggerSecret, Task: store.TaskTemplate{Type: "x"}})
	require.NoError(t, err)
	_, err = st.PutNotifier(t.Context(), &store.Notifier{Name: "ops", URL: "https://example.com/hook", Secret: notifierSecret})
	require.NoError(t, err)
}

func requireSecrets(t *testing.T, st *sqlite.Store) {
	t.Helper()
	tr, err := st.GetTrigger(t.Context(), "gh")
	require.NoError(t, err)
	require.Equal(t, triggerSecret, tr.Secret)
	trs, err := st.ListTriggers(t.Context())
	require.NoError(t, err)
	require.Equal(t, triggerSecret, trs[0].Secret)
	n, err := st.GetNotifier(t.Context(), "ops")
	require.NoError(t, err)
	require.Equal(t, notifierSecret, n.Secret)
	ns, err := st.ListNotifiers(t.Context())
	require.NoError(t, err)
	require.Equal(t, notifierSecret, ns[0].Secret)
}

// TestSecretsSealed: with a key, the database files hold no secret in
// plain text, and the secrets read back after a restart; without the key,
// or with another, they do not.
func TestSecretsSealed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "loom.db")
	key := bytes.Repeat([]byte{1}, 32)
	st := openAt(t, path, key)
	putSecrets(t, st)
	requireSecrets(t, st)
	require.False(t, filesHold(t, dir, triggerSecret) || filesHold(t, dir, notifierSecret), "a secret is in the files while open")
	require.NoError(t, st.Close())
	require.False(t, filesHold(t, dir, triggerSecret) || filesHold(t, dir, notifierSecret), "a secret is in the files")

	st = openAt(t, path, key)
	requireSecrets(t, st)
	require.NoError(t, st.Close())

	st = openAt(t, path, nil)
	_, err := st.GetTrigger(t.Context(), "gh")
	require.ErrorIs(t, err, sqlite.ErrNoSecretKey)
	require.NoError(t, st.Close())
	st = openAt(t, path, bytes.Repeat([]byte{2}, 32))
	_, err = st.GetNotifier(t.Context(), "ops")
	require.True(t, errors.Is(err, secretbox.ErrOpen), "%v", err)
	require.NoError(t, st.Close())
}

// TestPlainSecretsSealedAtOpen: secrets stored before the store had a
// key are sealed when it opens with one, and gone from the files.
func TestPlainSecretsSealedAtOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "loom.db")
	st := openAt(t, path, nil)
	putSecrets(t, st)
	require.NoError(t, st.Close())
	require.True(t, filesHold(t, dir, triggerSecret), "without a key the secret is stored as it is")

	key := bytes.Repeat([]byte{3}, 32)
	st = openAt(t, path, key)
	requireSecrets(t, st)
	require.NoError(t, st.Close())
	require.False(t, filesHold(t, dir, triggerSecret) || filesHold(t, dir, notifierSecret), "a plain secret survived sealing")
	st = openAt(t, path, key)
	requireSecrets(t, st)
	require.NoError(t, st.Close())
}
